// Package boltstore is kvhttp's default storage backend: an embedded
// key-value store on go.etcd.io/bbolt.
//
// It exists because the product promises that an acknowledged write is
// durable: every write is one bbolt transaction whose commit has been
// fsynced before the method returns, so a crash or power loss never loses
// a write the client was told about. All data lives in one file,
// kvhttp.db in the folder given to Open, which makes backups and moves a
// matter of copying one file while the server is stopped. Each Put and
// Delete checks its condition and writes in the same transaction, so
// create-only writes and compare-and-swap are atomic for a key; PutAll
// writes a whole batch in a single transaction, all or nothing.
//
// bbolt locks the file, so only one process (and one Store) can have a
// folder open at a time; Open reports that case as store.ErrLocked.
// Open never rewrites a file it cannot read as a store: such a file is
// reported as store.ErrCorrupt and left exactly as it was.
package boltstore
