// Package layering holds the test that keeps the dependency direction of
// DESIGN §3 true: it reads `go list -deps -json ./...` and fails on any
// import against it, and it builds the Linux-free packages for darwin.
// The package has no code; its test is part of `make test`.
package layering
