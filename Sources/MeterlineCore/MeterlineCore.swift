// MeterlineCore — the pure heart of Meterline.
//
// Owns: usage-event parsing and validation (CloudEvents 1.0), meters (OpenMeter-compatible),
// exact fixed-point money and quantities, price books and rating, billing-event values and
// their canonical JSON form.
//
// Must never import: Foundation, Dispatch, Glibc, any C module, or any other Meterline module.
// No I/O, no clock (callers pass "now" in), no floating point for quantities or amounts.
