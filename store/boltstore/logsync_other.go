//go:build !linux || !(amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package boltstore

import (
	"errors"
	"os"
)

// aioSyncer is 64-bit Linux's asynchronous fdatasync (logsync_linux64.go);
// other systems sync the log with fdatasync.
type aioSyncer struct{}

// newAIOSyncer returns nil: there is no asynchronous fdatasync here.
func newAIOSyncer() *aioSyncer { return nil }

// fdatasync is never called: newAIOSyncer returns nil.
func (*aioSyncer) fdatasync(f *os.File) error { return fdatasync(f) }

// The asynchronous calls are never made either.
func (*aioSyncer) start(f *os.File) (bool, error) { return false, fdatasync(f) }
func (*aioSyncer) await() error                   { return errors.ErrUnsupported }
func (*aioSyncer) poll() (bool, error)            { return true, errors.ErrUnsupported }
func (*aioSyncer) fd() int                        { return -1 }
func (*aioSyncer) signal()                        {}

// Close releases nothing.
func (*aioSyncer) Close() error { return nil }

// writeFrameAt writes p at off in f.
func writeFrameAt(f *os.File, p []byte, off int64) error {
	_, err := f.WriteAt(p, off)
	return err
}
