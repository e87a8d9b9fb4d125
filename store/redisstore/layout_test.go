package redisstore

import (
	"bytes"
	"errors"
	"testing"

	"kvhttp/store"
)

func TestCRC16(t *testing.T) {
	// The check value of CRC-16/XMODEM.
	if got, want := crc16("123456789"), uint16(0x31c3); got != want {
		t.Errorf("crc16(123456789): got %#x; want %#x", got, want)
	}
}

func TestKeySlot(t *testing.T) {
	// Slots as CLUSTER KEYSLOT reports them (TestClusterKeySlot checks more
	// against a live server).
	tests := []struct {
		key  string
		want uint16
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"{}user1000", crc16("{}user1000") % numSlots}, // an empty tag: the whole key
		{"foo{}{bar}", crc16("foo{}{bar}") % numSlots},
		{"foo{{bar}}zap", crc16("{bar") % numSlots},
		{"foo{bar}{zap}", 5061},
		{"{", crc16("{") % numSlots},
	}
	for _, tt := range tests {
		if got := keySlot(tt.key); got != tt.want {
			t.Errorf("keySlot(%q): got %v; want %v", tt.key, got, tt.want)
		}
	}
}

func TestBucketTags(t *testing.T) {
	for _, n := range []int{1, 2, 3, 64, 1000, MaxBuckets} {
		tags := bucketTags(n)
		if len(tags) != n {
			t.Fatalf("bucketTags(%d): got %d tags; want %d", n, len(tags), n)
		}
		seen := make(map[string]bool, n)
		for b, tag := range tags {
			if seen[tag] {
				t.Fatalf("bucketTags(%d): tag %q given twice", n, tag)
			}
			seen[tag] = true
			slot := int(keySlot("p{" + tag + "}k:anything"))
			if got := slot * n / numSlots; got != b {
				t.Fatalf("bucketTags(%d): bucket %d has tag %q in slot %d, the range of bucket %d", n, b, tag, slot, got)
			}
		}
	}
	// The tags are part of the layout: they must never change.
	if got, want := bucketTags(4), []string{"3", "2", "1", "0"}; !equalStrings(got, want) {
		t.Errorf("bucketTags(4): got %q; want %q", got, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLayoutKeys(t *testing.T) {
	l := newLayout("p:", 4)
	b := bucketOf([]byte("k"), 4)
	tag := l.tags[b]
	tests := []struct {
		name, got, want string
	}{
		{"meta", l.metaKey(), "p:meta"},
		{"data", l.dataKey(b, []byte("k")), "p:{" + tag + "}k:k"},
		{"data of a key with braces", l.dataKey(b, []byte("{x}")), "p:{" + tag + "}k:{x}"},
		{"index", l.indexKey(b), "p:{" + tag + "}i"},
		{"counter", l.counterKey(b), "p:{" + tag + "}n"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, tt.got, tt.want)
		}
	}
	// A key's record, index and counter share a slot, whatever the key.
	for _, key := range []string{"k", "{x}", "a}b{c", "\x00\xff"} {
		b := bucketOf([]byte(key), 4)
		d, i, c := keySlot(l.dataKey(b, []byte(key))), keySlot(l.indexKey(b)), keySlot(l.counterKey(b))
		if d != i || d != c {
			t.Errorf("slots of %q: got record %d, index %d, counter %d; want one slot", key, d, i, c)
		}
	}
}

func TestLexRange(t *testing.T) {
	tests := []struct {
		name           string
		opts           store.ListOptions
		wantLo, wantHi string
	}{
		{"all", store.ListOptions{}, "-", "+"},
		{"prefix", store.ListOptions{Prefix: []byte("a/")}, "[a/", "(a0"},
		{"prefix ending in 0xff", store.ListOptions{Prefix: []byte("a\xff\xff")}, "[a\xff\xff", "(b"},
		{"prefix of 0xff only", store.ListOptions{Prefix: []byte("\xff")}, "[\xff", "+"},
		{"after", store.ListOptions{After: []byte("k")}, "(k", "+"},
		{"after equal to prefix", store.ListOptions{Prefix: []byte("a"), After: []byte("a")}, "(a", "(b"},
		{"after before prefix", store.ListOptions{Prefix: []byte("b"), After: []byte("a")}, "[b", "(c"},
		{"after inside prefix", store.ListOptions{Prefix: []byte("a"), After: []byte("ab")}, "(ab", "(b"},
	}
	for _, tt := range tests {
		lo, hi := lexRange(tt.opts)
		if lo != tt.wantLo || hi != tt.wantHi {
			t.Errorf("%s: got %q %q; want %q %q", tt.name, lo, hi, tt.wantLo, tt.wantHi)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"a\x00", "a\x01", true},
	}
	for _, tt := range tests {
		got, ok := prefixEnd([]byte(tt.prefix))
		if ok != tt.ok || !bytes.Equal(got, []byte(tt.want)) {
			t.Errorf("prefixEnd(%q): got %q, %v; want %q, %v", tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"defaults", Options{}, nil},
		{"prefix with a brace", Options{KeyPrefix: "a{b"}, ErrOptions},
		{"prefix with a closing brace", Options{KeyPrefix: "a}"}, ErrOptions},
		{"negative buckets", Options{Buckets: -1}, ErrOptions},
		{"too many buckets", Options{Buckets: MaxBuckets + 1}, ErrOptions},
		{"most buckets", Options{Buckets: MaxBuckets}, nil},
		{"negative replicas", Options{WaitReplicas: -1}, ErrOptions},
		{"empty address", Options{Addrs: []string{"127.0.0.1:1", ""}}, ErrOptions},
	}
	for _, tt := range tests {
		opts := tt.opts
		if err := checkOptions(&opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, err, tt.want)
		}
	}
	opts := Options{}
	checkOptions(&opts)
	if len(opts.Addrs) != 1 || opts.Addrs[0] != DefaultAddr || opts.KeyPrefix != DefaultKeyPrefix || opts.WaitTimeout != DefaultWaitTimeout {
		t.Errorf("defaults: got %+v; want %s, %q, %v", opts, DefaultAddr, DefaultKeyPrefix, DefaultWaitTimeout)
	}
}
