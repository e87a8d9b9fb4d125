// Package redisstore is a kvhttp storage backend on Redis: one server, or
// a Redis Cluster, through github.com/redis/go-redis/v9. Several kvhttp
// servers can share one store, which is what it is for: the embedded
// bbolt store (package boltstore) belongs to one process.
//
// # Data layout
//
// Under Options.KeyPrefix P (default "kvhttp:"), a store with N buckets
// keeps:
//
//	P meta        hash: format "1", buckets N
//	P{T}k:KEY     hash: v = version (decimal), t = content type, d = value
//	P{T}i         sorted set: the keys of the bucket, all with score 0
//	P{T}n         string: the bucket's write counter
//
// Each key belongs to bucket FNV-1a-32(KEY) mod N, and T is that bucket's
// hash tag. Keys are binary-safe, in Redis and here. The record, the
// index and the counter of a bucket share a hash tag, hence one cluster
// slot, so that every write is a single Lua script (EVALSHA) over keys of
// one slot, which Redis runs atomically, on a single server and in a
// cluster alike. Create-only writes, updates, compare-and-swap and
// conditional deletes are therefore atomic per key, and a bucket's index
// always lists exactly the keys whose records exist.
//
// # Buckets
//
// A bucket is the unit of distribution: all its keys live in one slot.
// Bucket tags are chosen so that bucket b's slot lies in the b-th Nth of
// the 16384 slots, so a cluster whose masters own equal slot ranges (as
// redis-cli --cluster create makes them) holds an equal share of buckets,
// and of keys, on each master. N bounds how finely data spreads and can be
// resharded; each listing pays for N (see Listing). The default, 64, suits
// clusters of up to a dozen or so masters. N is fixed when a store is
// created (Options.Buckets, 1 to 16384) and recorded in the meta hash;
// Open adopts the recorded count and refuses a different one.
//
// # Versions
//
// A write increments its bucket's counter to n and gets version
// n*N + bucket. The counter makes versions unique within a bucket and the
// bucket term makes them unique across buckets, so no two writes of a
// store share a version, a key's versions increase, and version 0 is never
// issued. The counter outlives the keys of its bucket, so a key deleted
// and created again gets a new version; a delete leaves nothing behind.
// Lua computes in doubles, exact to 2^53: at a million writes a second
// spread over 64 buckets that lasts some 280 years.
//
// # Listing
//
// Keys are listed in byte order by merging the bucket indexes: a listing
// asks every bucket for the next keys in range (ZRANGEBYLEX with
// exclusive cursors, about 2*Limit/N+8 keys each), merges them, asks again
// only the buckets that ran out while they may hold more, and then reads
// the records of the keys it picked with HMGET, 128 per round trip. Each
// of those steps is one pipeline, which the cluster client splits into
// one per master, run in parallel. A page of L keys so costs about N + L
// cheap commands and two or three round trips, whatever the size of the
// store, but its cost grows with N. A listing is not a snapshot: each
// record is read when its batch is, a key deleted in between is left out,
// and a key created during a listing may or may not appear. The API's
// lookup of one key's version (the first item of the key as a prefix) is
// answered from the key's record alone when the key exists.
//
// The alternatives are worse. One global index would live in one slot,
// putting every create and delete of the cluster on one master, and could
// not be updated atomically with the records, which live elsewhere.
// Scanning every master (SCAN MATCH) and merging costs a pass over all
// keys for every page.
//
// # PutAll
//
// On a single server a batch is one MULTI/EXEC transaction: all items or,
// on an error, none; Redis serves no other client while it runs a
// transaction, so a very large batch stalls the server. In a cluster a transaction cannot span slots, so each
// master gets one pipeline of its items, applied one by one: a batch that
// fails midway may be partly written (its error says how many items were
// known to be applied), and sending it again completes it. Only the last
// item of a key in a batch is sent.
//
// # Guarantees
//
// Reads and writes go to the master of the key, never a replica, so a
// client reads its own acknowledged writes (failures aside). A nil error
// from a write means its master applied it, in memory: whether it also
// reached the disk is Redis's persistence configuration (appendonly,
// appendfsync), not the fsync-before-acknowledging promise of boltstore.
//
// With Options.WaitReplicas = R >= 1, a write is acknowledged only after
// WAIT R reports that R replicas of its master have it; when they do not
// within Options.WaitTimeout, the write fails with ErrReplicaTimeout
// although its master applied it. WAIT does not make Redis strongly
// consistent. Replication stays asynchronous and a failover promotes a
// replica without asking whether it has every acknowledged write: if the
// master fails and a replica that lacks the write is promoted, the write
// is lost. With WAIT 1 that needs an unlucky election (a master with
// several replicas, only one of which had the write) or a second failure,
// so it is rare; with WaitReplicas 0 every write acknowledged in the
// moments before a master crashes can be lost. A lost write takes its
// bucket's counter with it, so the version it was given, which a client
// may hold as an ETag, can be issued again for a later write of the same
// key.
//
// A write is sent once. It is resent, after a short wait and for at most
// 5 seconds, only after an answer that proves it did not run: MOVED, ASK,
// TRYAGAIN, CLUSTERDOWN, READONLY, LOADING or MASTERDOWN (a slot moving or
// a failover in progress), NOSCRIPT (the scripts are loaded again first),
// or a refused connection. Any other error after the write was sent, such
// as a broken connection, leaves it unknown whether the write was applied.
// ctx is honoured until a write is sent; then the call waits for the
// reply. Closing the Store fails later calls with store.ErrClosed.
package redisstore
