package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"kvhttp/store"
)

// FileName is the name of the data file inside the folder given to Open.
const FileName = "kvhttp.db"

// DefaultLockTimeout is how long Open waits for another holder of the data
// file to let go when Options.LockTimeout is zero.
const DefaultLockTimeout = 100 * time.Millisecond

// The file holds two buckets: data, with one record per key (see record.go),
// and meta, whose format key marks the file as a kvhttp store and says how
// to read it. Open refuses a file whose marker is missing or unknown.
var (
	dataBucket = []byte("data")
	metaBucket = []byte("kvhttp")
	formatKey  = []byte("format")
)

// storeFormat is the file layout version written under formatKey.
// Format 2 files may have a write-ahead log beside them (wal.go), which a
// build that knows only format 1 would ignore; this build reads both.
const (
	storeFormat = 2
	noLogFormat = 1
)

// Options configure Open. The zero value and a nil *Options give the
// defaults.
type Options struct {
	// LockTimeout bounds how long Open waits for the file lock held by
	// another process or Store; zero or less means DefaultLockTimeout.
	// A short wait keeps a second server from hanging at startup.
	LockTimeout time.Duration
	// CheckpointEvery is how long logged writes wait, at most, before a
	// checkpoint moves them into the data file; zero or less means
	// DefaultCheckpointEvery. Under load a checkpoint also starts
	// whenever the log holds 64 MiB or the writes it holds 4 MiB, which
	// bounds the replay after a crash; shorter keeps the data file closer
	// to the log, at the cost of more bbolt commits.
	CheckpointEvery time.Duration
}

// Store is a store.Item collection kept in one bbolt file. Its methods
// are safe for concurrent use. Put and Delete go through one committer
// goroutine that logs concurrent writes together (see Group commit in
// the package documentation); each returns only after the log sync holding
// it is on disk.
type Store struct {
	db   *bolt.DB
	path string

	// closed is set once, by Close, while holding mu exclusively; writers
	// check it and send on queue while holding mu shared, so none sends
	// after Close has closed queue. Reads check it without mu.
	mu     sync.RWMutex
	closed atomic.Bool
	queue  chan *writeOp
	// over holds, in order, asynchronous writes (PutAsync, DeleteAsync)
	// that found the queue full: they cannot wait for room, so the
	// committer moves them into the queue as it empties (refill). While
	// over is not empty, new asynchronous writes join it, not the queue,
	// so that one caller's writes keep their order. At most maxOver.
	overMu sync.Mutex
	over   []*writeOp
	// queued counts the operations sent to queue and not yet committed:
	// CommitHeld leaves writes to the committer while any are, so that
	// none overtakes one made before it.
	queued atomic.Int64
	// holds counts the HoldWrites not yet ended by CommitHeld: while it
	// is not zero, asynchronous writes wait in over (held.go).
	holds atomic.Int32
	// commitMu makes commits one at a time: the committer's, and those
	// CommitHeld starts, which hold it until their sync has ended. It
	// guards what the committer owns (below).
	commitMu sync.Mutex
	held     heldCommits
	// nudge asks the committer to see whether a checkpoint is due, after
	// a commit it did not make.
	nudge chan struct{}
	// stopped is closed when the committer has returned, having committed
	// everything queued before Close.
	stopped chan struct{}
	// commitTx runs a checkpoint's transaction: db.Update, which tests
	// replace to make checkpoints fail.
	commitTx func(func(*bolt.Tx) error) error
	// logSync makes a log append durable: fdatasync, which tests replace
	// to make commits fail.
	logSync func(*os.File) error
	// aio, when the kernel offers it, is logSync's asynchronous
	// fdatasync (logsync_linux64.go); Close releases it.
	aio     *aioSyncer
	commits atomic.Uint64 // batches logged, for tests and benchmarks

	snaps *snapshots // read transactions shared by Gets
	ov    overlay    // logged writes not yet in bbolt
	dir   string

	// Owned by the committer (commitLoop and what it calls) and by
	// CommitHeld: whoever holds commitMu.
	seq          uint64        // the version counter: the last version issued
	seg          *segment      // the segment being appended to; nil before the first batch of a generation
	staged       *memtable     // the batch being committed
	frame        []byte        // the batch's frame, reused
	activeSince  time.Time     // when the active memtable got its first batch
	broken       error         // a log that could not be cut back: no more writes
	ckptEvery    time.Duration // Options.CheckpointEvery
	ckptLogBytes int64         // checkpointLogBytes, which tests lower
	ckptRunning  bool          // a memtable was sent to the checkpointer and no outcome came back
	ckptErr      error         // the last checkpoint's outcome
	ckptFailed   time.Time     // when that outcome came
	finishErr    error         // from the final checkpoint, for Close

	ckptReq     chan *memtable // committer to checkpointer; closed by finish
	ckptDone    chan error     // checkpointer to committer, one per request
	ckptStopped chan struct{}  // closed when the checkpointer has returned
	spares      chan string    // a recycled segment file, checkpointer to committer

	closeOnce sync.Once
}

// Open opens the store in dir, creating dir (mode 0700) and the data file
// FileName (mode 0600) if they are missing.
//
// If another process or Store holds the file, Open fails after
// Options.LockTimeout with an error wrapping store.ErrLocked. If the file
// is not a bbolt file, or is one that holds other buckets but not this
// store's marker, Open fails with an error wrapping store.ErrCorrupt and
// leaves the file untouched. Both errors name the file's path.
func Open(dir string, opts *Options) (*Store, error) {
	s, err := open(dir, opts)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// open opens the store in dir as Open does, but does not start the
// committer.
func open(dir string, opts *Options) (*Store, error) {
	timeout, every := DefaultLockTimeout, DefaultCheckpointEvery
	if opts != nil && opts.LockTimeout > 0 {
		timeout = opts.LockTimeout
	}
	if opts != nil && opts.CheckpointEvery > 0 {
		every = opts.CheckpointEvery
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// NoSync stays false: every checkpoint is fsynced before the log
	// segments it holds are dropped.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return nil, openError(path, timeout, err)
	}
	if err := prepare(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{
		db:           db,
		path:         path,
		dir:          dir,
		queue:        make(chan *writeOp, queueLen),
		stopped:      make(chan struct{}),
		nudge:        make(chan struct{}, 1),
		commitTx:     db.Update,
		logSync:      fdatasync,
		snaps:        newSnapshots(),
		staged:       newMemtable(0),
		ckptReq:      make(chan *memtable, 1),
		ckptDone:     make(chan error, 1),
		ckptStopped:  make(chan struct{}),
		spares:       make(chan string, 1),
		ckptEvery:    every,
		ckptLogBytes: checkpointLogBytes,
	}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if a := newAIOSyncer(); a != nil {
		s.aio, s.logSync = a, a.fdatasync
		if h := newAIOSyncer(); h != nil { // or the committer commits all
			s.held.aio, s.held.startSync = h, h.start
		}
	}
	return s, nil
}

// recover replays the log segments that bbolt does not hold yet into
// bbolt, in one checkpoint, deletes every segment, and sets the version
// counter and the next generation. It changes nothing when a segment is
// damaged (store.ErrCorrupt): the log is the only copy of what it holds.
func (s *Store) recover() error {
	var applied uint64
	upgrade := false
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if g := meta.Get(genKey); len(g) == 8 {
			applied = binary.BigEndian.Uint64(g)
		}
		upgrade = meta.Get(formatKey)[0] == noLogFormat
		s.seq = tx.Bucket(dataBucket).Sequence()
		return nil
	})
	if err != nil {
		return err
	}
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	segs = slices.DeleteFunc(segs, func(sg walFile) bool { return sg.gen <= applied })
	mt := newMemtable(applied)
	for i, sg := range segs {
		seq, err := replaySegment(sg.path, sg.gen, i == len(segs)-1, mt)
		if err != nil {
			return err
		}
		mt.maxSeq, mt.gen = max(mt.maxSeq, seq), sg.gen
	}
	// Writing even an empty memtable marks a format 1 file as format 2
	// before any log is written beside it.
	if len(segs) > 0 || upgrade {
		if err := s.writeMemtable(mt); err != nil {
			return err
		}
		s.seq = max(s.seq, mt.maxSeq)
	}
	if err := s.recycleSegments(mt.gen, false); err != nil {
		return err
	}
	s.dropSpares()
	s.ov.active = newMemtable(mt.gen + 1)
	return nil
}

// openError translates an error from bolt.Open into the store's terms.
func openError(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("boltstore: open %s: %w (waited %v)", path, store.ErrLocked, timeout)
	case !systemError(err):
		return fmt.Errorf("boltstore: open %s: %w: %w", path, store.ErrCorrupt, err)
	}
	return fmt.Errorf("boltstore: open %s: %w", path, err)
}

// systemError reports whether err from bolt.Open is the system failing to
// open, lock, read or map the file, rather than bbolt rejecting what it
// read: ErrInvalid, ErrChecksum, ErrVersionMismatch, or the unexported
// error for a file shorter than two pages.
func systemError(err error) bool {
	var errno syscall.Errno
	var pathErr *fs.PathError
	return errors.As(err, &errno) || errors.As(err, &pathErr)
}

// prepare checks that db holds a store of a known format, or makes it one
// if it holds no buckets at all, as a new file does. It writes nothing to a
// file it rejects.
func prepare(db *bolt.DB) error {
	fresh := false
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			// The root of a bbolt file holds only buckets.
			if name, _ := tx.Cursor().First(); name != nil {
				return fmt.Errorf("bucket %q but no kvhttp marker: %w", name, store.ErrCorrupt)
			}
			fresh = true
			return nil
		}
		return checkFormat(tx, meta)
	})
	if err != nil || !fresh {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(formatKey, []byte{storeFormat}); err != nil {
			return err
		}
		_, err = tx.CreateBucket(dataBucket)
		return err
	})
}

// checkFormat checks the marker of an existing store.
func checkFormat(tx *bolt.Tx, meta *bolt.Bucket) error {
	f := meta.Get(formatKey)
	switch {
	case len(f) != 1:
		return fmt.Errorf("format marker of %d bytes: %w", len(f), store.ErrCorrupt)
	case f[0] != storeFormat && f[0] != noLogFormat:
		return fmt.Errorf("unknown format version %d (this build reads %d): %w", f[0], storeFormat, store.ErrCorrupt)
	case tx.Bucket(dataBucket) == nil:
		return fmt.Errorf("no data bucket: %w", store.ErrCorrupt)
	}
	return nil
}

// Path returns the path of the data file.
func (s *Store) Path() string { return s.path }

// Close closes the data file and releases its lock. Calls that start
// later fail with an error wrapping store.ErrClosed. Calls in flight
// finish first: a write waiting for room in the committer's queue gets in
// (or gives up with its context's error), every queued write is committed
// and its writer told the outcome, then the committer stops and the file
// is closed. Closing a closed Store returns nil (after the first Close has
// finished, if it is still running). Close must not be called from a List
// callback, which runs inside a transaction that Close waits for.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		close(s.queue)
		s.mu.Unlock()
		s.stopHeld() // the committer may wait for a held commit's sync
		<-s.stopped
		// bbolt's Close waits for read transactions: end the snapshots,
		// and begin none again.
		s.snaps.writing.Add(1)
		s.snaps.endAll()
		if s.finishErr != nil {
			err = fmt.Errorf("boltstore: close %s: the log stays for the next Open: %w", s.path, s.finishErr)
		}
		if cerr := s.db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("boltstore: close %s: %w", s.path, cerr))
		}
		for _, a := range []*aioSyncer{s.aio, s.held.aio} {
			if a == nil {
				continue
			}
			if aerr := a.Close(); aerr != nil {
				err = errors.Join(err, fmt.Errorf("boltstore: close %s: %w", s.path, aerr))
			}
		}
	})
	return err
}

// ready reports why a call must not start: a done context or a closed Store.
func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// fail wraps err for op. bbolt reports a transaction begun after Close
// (a call that raced with Close) as ErrDatabaseNotOpen.
func fail(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = store.ErrClosed
	}
	return fmt.Errorf("boltstore: %s: %w", op, err)
}
