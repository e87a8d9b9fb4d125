// Package boltstore is kvhttp's default storage backend: an embedded
// key-value store on go.etcd.io/bbolt.
//
// It exists because the product promises that an acknowledged write is
// durable: Put and Delete return a result only after the bbolt commit
// holding the write has been fsynced, so a crash or power loss never loses
// a write the client was told about. All data lives in one file,
// kvhttp.db in the folder given to Open, which makes backups and moves a
// matter of copying one file while the server is stopped.
//
// # Group commit
//
// An fsync costs about the same for one write as for a thousand, so
// writes are not given a transaction each, which would cap a busy server
// at a few hundred writes a second. A committer goroutine, started by Open and
// stopped by Close, takes every Put and Delete waiting for it (up to 1,024,
// or 4 MiB of records), applies them in arrival order in one transaction,
// commits it with one fsync, and then gives each writer its own result.
// It takes the next batch as soon as a commit returns, with no fixed delay
// (unlike bbolt's DB.Batch, which waits up to 10 ms for a batch to fill),
// so a lone writer is as fast as before and concurrent writers share
// fsyncs.
//
// Each operation checks its condition inside the transaction, after the
// operations before it in the batch, so create-only writes and
// compare-and-swap are atomic for a key exactly as with a transaction per
// write, and a failed condition fails only its own operation. If a commit
// fails, every write in it fails with the commit's error and none is
// applied. A result (success or a failed condition) is returned only after
// the commit that decided it is on disk; an error from the context or
// store.ErrClosed means the write never reached the committer. PutAll
// writes a whole batch in a single transaction of its own, all or nothing.
//
// bbolt locks the file, so only one process (and one Store) can have a
// folder open at a time; Open reports that case as store.ErrLocked.
// Open never rewrites a file it cannot read as a store: such a file is
// reported as store.ErrCorrupt and left exactly as it was.
package boltstore
