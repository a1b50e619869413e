// Bundle entry: what bin/strata.js loads.
export { cli } from './main.js';
