package storetest

import (
	"errors"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

// condVersion picks the version an IfVersion case compares with.
type condVersion int

const (
	noVersion    condVersion = iota // zero, for conditions that ignore it
	sameVersion                     // the stored version
	otherVersion                    // not the stored version
)

// condCase is a conditional write against a key that is present (holding
// "old") or absent.
type condCase struct {
	name    string
	present bool
	kind    store.CondKind
	version condVersion
	want    error
}

// setup creates the case's key if the case wants it present and returns the
// key and the condition to use.
func (c condCase) setup(t *testing.T, s api.Store) (string, store.Cond, store.Result) {
	t.Helper()
	var before store.Result
	if c.present {
		before = mustPut(t, s, c.name, "old", "text/old")
	}
	cond := store.Cond{Kind: c.kind}
	switch c.version {
	case sameVersion:
		cond.Version = before.Version
	case otherVersion:
		cond.Version = before.Version + 1000
	}
	return c.name, cond, before
}

func testPutCond(t *testing.T, s api.Store) {
	tests := []condCase{
		{name: "Always absent", kind: store.Always},
		{name: "Always present", present: true, kind: store.Always},
		{name: "IfAbsent absent", kind: store.IfAbsent},
		{name: "IfAbsent present", present: true, kind: store.IfAbsent, want: store.ErrExists},
		{name: "IfPresent absent", kind: store.IfPresent, want: store.ErrNotFound},
		{name: "IfPresent present", present: true, kind: store.IfPresent},
		{name: "IfVersion absent", kind: store.IfVersion, version: otherVersion, want: store.ErrNotFound},
		{name: "IfVersion same", present: true, kind: store.IfVersion, version: sameVersion},
		{name: "IfVersion other", present: true, kind: store.IfVersion, version: otherVersion, want: store.ErrVersionMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, cond, before := tt.setup(t, s)
			res, err := s.Put(t.Context(), []byte(key), []byte("new"), []byte("text/new"), cond)
			wantErr(t, "Put", err, tt.want)
			switch {
			case err != nil && tt.present: // a failed write changes nothing
				wantItem(t, mustGet(t, s, key), key, "old", "text/old", before.Version)
			case err != nil:
				wantAbsent(t, s, key)
			default:
				if res.Created == tt.present {
					t.Errorf("Created: got %v; want %v", res.Created, !tt.present)
				}
				if tt.present && res.Version == before.Version {
					t.Errorf("Version: got %v, the version before the write; want a new one", res.Version)
				}
				wantItem(t, mustGet(t, s, key), key, "new", "text/new", res.Version)
			}
		})
	}
}

func testDeleteCond(t *testing.T, s api.Store) {
	tests := []condCase{
		{name: "Always absent", kind: store.Always, want: store.ErrNotFound},
		{name: "Always present", present: true, kind: store.Always},
		{name: "IfPresent absent", kind: store.IfPresent, want: store.ErrNotFound},
		{name: "IfPresent present", present: true, kind: store.IfPresent},
		{name: "IfVersion absent", kind: store.IfVersion, version: otherVersion, want: store.ErrNotFound},
		{name: "IfVersion same", present: true, kind: store.IfVersion, version: sameVersion},
		{name: "IfVersion other", present: true, kind: store.IfVersion, version: otherVersion, want: store.ErrVersionMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, cond, before := tt.setup(t, s)
			err := s.Delete(t.Context(), []byte(key), cond)
			wantErr(t, "Delete", err, tt.want)
			if err != nil && tt.present {
				wantItem(t, mustGet(t, s, key), key, "old", "text/old", before.Version)
			} else {
				wantAbsent(t, s, key)
			}
		})
	}

	// IfAbsent can never delete anything, so it is an error, whatever
	// the key's state, and must leave the key alone.
	for _, present := range []bool{false, true} {
		c := condCase{name: "IfAbsent", present: present, kind: store.IfAbsent}
		key, cond, before := c.setup(t, s)
		err := s.Delete(t.Context(), []byte(key), cond)
		if !errors.Is(err, store.ErrInvalidCond) {
			t.Errorf("Delete IfAbsent (present %v): got %v; want %v", present, err, store.ErrInvalidCond)
		}
		if present {
			wantItem(t, mustGet(t, s, key), key, "old", "text/old", before.Version)
		}
	}
}

func testVersions(t *testing.T, s api.Store) {
	seen := make(map[uint64]string)
	record := func(what string, v uint64) {
		t.Helper()
		if prev, ok := seen[v]; ok {
			t.Errorf("%s: got version %v, already given by %s; want a new one", what, v, prev)
		}
		seen[v] = what
	}
	ctx := t.Context()
	key := []byte("k")
	for i, step := range []string{"create", "overwrite", "overwrite again"} {
		res := mustPut(t, s, "k", step, "")
		if res.Created != (i == 0) {
			t.Errorf("%s: Created: got %v; want %v", step, res.Created, i == 0)
		}
		record(step, res.Version)
	}
	for round := range 3 {
		if err := s.Delete(ctx, key, store.Cond{}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Put(ctx, key, []byte("again"), nil, store.Cond{Kind: store.IfAbsent})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Created {
			t.Errorf("re-create %d: Created: got %v; want %v", round, res.Created, true)
		}
		record("re-create after delete", res.Version)
		wantItem(t, mustGet(t, s, "k"), "k", "again", "", res.Version)
	}
	for range 2 {
		mustPutAll(t, s, []store.Item{{Key: key, Value: []byte("batch")}, {Key: []byte("other"), Value: []byte("x")}})
		record("PutAll", mustGet(t, s, "k").Version)
	}
}
