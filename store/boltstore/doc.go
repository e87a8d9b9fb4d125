// Package boltstore is kvhttp's default storage backend: an embedded
// key-value store on go.etcd.io/bbolt, with a write-ahead log in front.
//
// It exists because the product promises that an acknowledged write is
// durable: Put, Delete and PutAll return a result only after the write is
// in the store's log and the log has been fdatasynced, so a crash or
// power loss never loses a write the client was told about. The data
// lives in kvhttp.db, a bbolt file, in the folder given to Open, with
// the log's segment files (kvhttp-wal-*.log) beside it while the store
// is open; Close writes everything to kvhttp.db and removes them, which
// makes backups and moves a matter of copying one file while the server
// is stopped.
//
// # Group commit
//
// A sync costs about the same for one write as for a thousand, so writes
// are not given a sync each, which would cap a busy server at a few
// thousand writes a second. A committer goroutine, started by Open and
// stopped by Close, takes every Put, Delete and PutAll waiting for it (up
// to 1,024, or 4 MiB of records), applies them in arrival order, appends
// the batch's outcome to the log as one frame, syncs once, and then gives
// each writer its own result. It takes the next batch as soon as a sync
// returns, with no fixed delay (unlike bbolt's DB.Batch, which waits up
// to 10 ms for a batch to fill and then pays bbolt's two fsyncs), so a
// lone writer is as fast as before and concurrent writers share syncs.
//
// Each operation checks its condition against the state the operations
// before it left, so create-only writes and compare-and-swap are atomic
// for a key exactly as with a transaction per write, and a failed
// condition fails only its own operation. If the log write or sync fails,
// every write in the batch fails with its error and none is applied. (If
// even cutting the failed frame off the log fails, the store takes no more
// writes; Close then removes the frame, but a crash before that leaves it
// to be replayed: those writes are in doubt, as docs/DURABILITY.md says of
// any 500.) A
// result (success or a failed condition) is returned only after the sync
// that decided it; an error from the context or store.ErrClosed means the
// write never reached the committer. PutAll is one operation, so one
// frame: all or nothing.
//
// # Commits on an event loop
//
// A server that answers writes from one event loop can commit them
// there instead: HoldWrites and CommitHeld bracket a round of the loop,
// whose PutAsync and DeleteAsync writes CommitHeld applies and logs as
// one batch, starting the log's sync without waiting for it; the loop
// watches HeldSyncFD and calls HeldSynced, which hands the writes their
// outcomes once the sync is done. The batch obeys every rule above (one
// commit at a time, order, per-write conditions, all-or-nothing on a
// log failure); while the committer commits, the held writes wait for the
// round that its signal on HeldSyncFD starts, and CommitHeld hands them
// to the committer whenever else it cannot commit them at once. kvhttp's
// server does this on 64-bit Linux (held.go says why and how). Such a
// loop can also answer reads of the keys written lately, which the
// overlay holds, with GetInMemory, which never reads the data file.
//
// # Checkpoints and recovery
//
// A checkpointer goroutine writes what the log holds to bbolt, in one
// bbolt transaction (with bbolt's own fsyncs), once the writes it holds
// reach 4 MiB, its segment 64 MiB, or their age Options.CheckpointEvery
// (30 s by default), whichever comes first, and then recycles the log
// segment it has written; reads look at logged writes not yet in bbolt
// first. Open replays any segments bbolt does not hold yet, the way etcd
// replays its WAL onto its bbolt backend: a torn frame at the end of the
// newest segment, which only a crash in the middle of writing it can
// leave, is dropped, as no writer in it was answered.
// wal.go, segment.go, overlay.go and checkpoint.go say more.
//
// bbolt locks the file, so only one process (and one Store) can have a
// folder open at a time; Open reports that case as store.ErrLocked.
// Open never rewrites a file it cannot read as a store, nor a log it
// cannot read whole: such a folder is reported as store.ErrCorrupt and
// left exactly as it was.
package boltstore
