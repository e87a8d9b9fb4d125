// Package scaling holds tests of kvhttp scaled out: several front ends
// (kvhttp servers) on one Redis Cluster, behind nginx. It has no code of
// its own; see docs/SCALING.md, "Running N front ends" and "Failover".
//
// The tests start a Redis Cluster of three masters and three replicas
// (package store/redisstore/redistest), two in-process kvhttp servers on
// it, and nginx with the example configuration examples/nginx-kvhttp.conf,
// its addresses replaced by theirs:
//
//   - TestThroughNginx runs an API suite through nginx with package
//     client: the origin's nine cases, per-key reads and writes with
//     ETags, create-only writes and compare-and-swap, 32 concurrent
//     compare-and-swap writers on one key, and a paginated listing.
//   - TestFailover kills a master under write load and checks that no
//     acknowledged write is lost; run it with -v to see its figures.
//
// They skip when redis-server, redis-cli or nginx is not installed.
package scaling
