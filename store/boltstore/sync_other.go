//go:build !linux

package boltstore

import "os"

// fdatasync flushes f with fsync where fdatasync is not to be had.
func fdatasync(f *os.File) error { return f.Sync() }
