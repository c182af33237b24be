// Package scenario runs exercises (scenarios) on a lab: a topology, ordered steps (change
// MACsec on one end, cut a link, move routes, wait for MKA), traffic probes
// that measure loss and outages, and assertions whose results make the
// report and the exit status.
package scenario

//go:generate go test -run ^TestFieldReference$ -update-docs .
