//go:build linux && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package boltstore

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The log's hot path without blocking system calls.
//
// A durable write waits for the log's write and fdatasync, and under load
// the committer does little else. Made the usual way, as calls that may
// block, each takes its P into a system call, which wakes the runtime's
// monitor thread (sysmon) whenever every P was idle (as it is while a
// sync is under way), and the monitor then polls every 20 us, hands the
// syncing P to another thread and so on: per durable write about a
// third more CPU and twice the context switches (docs/PERFORMANCE.md).
// So the committer writes its frame with a raw pwrite (into the page
// cache; the segment is already allocated, see segment.grow), and hands
// the fdatasync to the kernel's asynchronous I/O (IOCB_CMD_FDSYNC, Linux
// 4.18 on; the same vfs_fsync call, on a kernel worker), waiting for its
// completion on an eventfd through the network poller, so the committer's
// goroutine parks like one waiting for a socket.
//
// The price: a raw call holds its P, and delays a garbage collection's
// stop, for as long as the kernel takes, which for a write to the page
// cache is tens of microseconds but can reach a few milliseconds when the
// kernel throttles writers or must read a page back. Where the kernel
// refuses asynchronous fdatasync, the committer uses fdatasync.

// iocb is the kernel's struct iocb (linux/aio_abi.h) and ioEvent its
// struct io_event, on any 64-bit Linux (on a big-endian one the two zero
// fields after data swap places). 32-bit systems take the fdatasync path:
// their pwrite splits the offset in two arguments.
type iocb struct {
	data   uint64
	_      uint32 // aio_key
	_      uint32 // aio_rw_flags
	opcode uint16
	_      int16 // aio_reqprio
	fildes uint32
	_      uint64 // aio_buf
	_      uint64 // aio_nbytes
	_      int64  // aio_offset
	_      uint64 // aio_reserved2
	flags  uint32
	resfd  uint32
}

// The layouts' sizes are the kernel's: 64 and 32 bytes.
var (
	_ [64 - unsafe.Sizeof(iocb{})]byte
	_ [unsafe.Sizeof(iocb{}) - 64]byte
	_ [32 - unsafe.Sizeof(ioEvent{})]byte
	_ [unsafe.Sizeof(ioEvent{}) - 32]byte
)

type ioEvent struct {
	data, obj uint64
	res, res2 int64
}

const (
	iocbCmdFdsync = 3 // IOCB_CMD_FDSYNC
	iocbFlagResfd = 1 // IOCB_FLAG_RESFD: signal the eventfd in resfd
	aioEvents     = 4 // the context's capacity; one sync is in flight at a time
)

// aioSyncer runs fdatasync through the kernel's asynchronous I/O. Only
// the committer uses it, one sync at a time; Close releases it after the
// committer has stopped.
type aioSyncer struct {
	ctx     uintptr         // the aio context (aio_context_t)
	ev      *os.File        // the eventfd each completion signals
	efd     int             // ev's descriptor (ev.Fd() would make it blocking)
	rc      syscall.RawConn // ev's, to wait for it on the network poller
	seq     uint64          // the last sync submitted, to match its completion
	refused bool            // the kernel refused: use fdatasync from now on

	// wait's callback and its state, made once so that a wait allocates
	// nothing (a closure over them was three allocations a sync).
	readFn func(fd uintptr) bool
	buf    [8]byte
	rerr   error
}

// newAIOSyncer returns an aioSyncer, or nil if the kernel offers no
// asynchronous I/O (or no eventfd) to this process.
func newAIOSyncer() *aioSyncer {
	var ctx uintptr
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, aioEvents, uintptr(unsafe.Pointer(&ctx)), 0); e != 0 {
		return nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil
	}
	ev := os.NewFile(uintptr(fd), "eventfd")
	rc, err := ev.SyscallConn()
	if err != nil {
		ev.Close()
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		return nil
	}
	a := &aioSyncer{ctx: ctx, ev: ev, efd: fd, rc: rc}
	a.readFn = a.readCount
	return a
}

// fdatasync makes f's written data durable, as fdatasync does, and
// returns its error.
func (a *aioSyncer) fdatasync(f *os.File) error {
	if async, err := a.start(f); !async {
		return err
	}
	return a.await()
}

// start starts an fdatasync of f and reports true, or, where the kernel
// refuses to start one, syncs f with fdatasync and reports false with
// its outcome.
func (a *aioSyncer) start(f *os.File) (async bool, err error) {
	if a.refused {
		return false, fdatasync(f)
	}
	switch err := a.submit(f); {
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
		a.refused = true // a kernel or file system without it
		return false, fdatasync(f)
	case errors.Is(err, unix.EAGAIN):
		return false, fdatasync(f) // the kernel is short of aio resources: this once
	case err != nil:
		return false, err
	}
	return true, nil
}

// await waits for the sync start started and returns its outcome.
func (a *aioSyncer) await() error {
	for {
		if err := a.wait(); err != nil {
			return err
		}
		// Ours is among the completions unless the eventfd also counted
		// an earlier one.
		if done, err := a.collect(); done {
			return err
		}
	}
}

// poll reports, without waiting, whether the sync start started has
// ended, and its outcome. It resets the eventfd's count.
func (a *aioSyncer) poll() (bool, error) {
	a.rerr = nil
	a.readCount(uintptr(a.efd))
	return a.collect()
}

// fd returns the eventfd that each completion signals.
func (a *aioSyncer) fd() int { return a.efd }

// signal makes the eventfd readable without a completion, to wake the
// goroutine that watches it; poll and await take such a count for no
// completion. Any goroutine may call it until Close.
func (a *aioSyncer) signal() {
	one := uint64(1) // the count, in the host's byte order
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(a.efd), uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one))
		if e != unix.EINTR {
			return // EAGAIN: the count is at its maximum, readable already
		}
	}
}

// collect reaps every completion there is, without waiting, and reports
// whether the last sync submitted is among them, with its outcome. A
// failure to reap is reported as that sync's.
func (a *aioSyncer) collect() (bool, error) {
	var evs [aioEvents]ioEvent
	ts := unix.Timespec{}
	var n uintptr
	e := unix.EINTR
	for e == unix.EINTR {
		n, _, e = unix.RawSyscall6(unix.SYS_IO_GETEVENTS, a.ctx, 0, aioEvents, uintptr(unsafe.Pointer(&evs[0])), uintptr(unsafe.Pointer(&ts)), 0)
	}
	if e != 0 {
		return true, os.NewSyscallError("io_getevents", e)
	}
	for _, ev := range evs[:n] {
		if ev.data != a.seq {
			continue
		}
		if ev.res < 0 {
			return true, os.NewSyscallError("fdatasync", unix.Errno(-ev.res))
		}
		return true, nil
	}
	return false, nil
}

// submit starts an fdatasync of f whose completion carries the next seq.
func (a *aioSyncer) submit(f *os.File) error {
	a.seq++
	cb := iocb{data: a.seq, opcode: iocbCmdFdsync, fildes: uint32(f.Fd()), flags: iocbFlagResfd, resfd: uint32(a.efd)}
	cbs := [1]*iocb{&cb}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_IO_SUBMIT, a.ctx, 1, uintptr(unsafe.Pointer(&cbs[0])))
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return os.NewSyscallError("io_submit", e)
		case n != 1:
			return errors.New("io_submit: the sync was not submitted")
		}
		return nil
	}
}

// wait parks the goroutine until the eventfd counts a completion, and
// resets the count.
func (a *aioSyncer) wait() error {
	a.rerr = nil
	if err := a.rc.Read(a.readFn); err != nil {
		return err
	}
	return a.rerr
}

// readCount is wait's callback: it reads (and so resets) the eventfd's
// count, or returns false to wait on the poller while there is none.
func (a *aioSyncer) readCount(fd uintptr) bool {
	for {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&a.buf[0])), uintptr(len(a.buf)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // not yet: wait on the poller
		case 0:
		default:
			a.rerr = os.NewSyscallError("read eventfd", e)
		}
		return true
	}
}

// Close releases the aio context, which waits for a sync in flight, and
// the eventfd.
func (a *aioSyncer) Close() error {
	var err error
	if _, _, e := unix.Syscall(unix.SYS_IO_DESTROY, a.ctx, 0, 0); e != 0 {
		err = os.NewSyscallError("io_destroy", e)
	}
	return errors.Join(err, a.ev.Close())
}

// writeFrameAt writes p at off in f with raw pwrite calls (see above).
func writeFrameAt(f *os.File, p []byte, off int64) error {
	fd := f.Fd()
	for len(p) > 0 {
		n, _, e := unix.RawSyscall6(unix.SYS_PWRITE64, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(off), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return &os.PathError{Op: "write", Path: f.Name(), Err: e}
		case n == 0:
			return &os.PathError{Op: "write", Path: f.Name(), Err: errors.New("wrote nothing")}
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
