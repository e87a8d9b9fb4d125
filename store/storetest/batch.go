package storetest

import (
	"fmt"
	"strings"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

func testPutAll(t *testing.T, s api.Store) {
	before := mustPut(t, s, "k0001", "old", "text/old")
	const n = 1000
	items := make([]store.Item, 0, n+1)
	for i := range n {
		items = append(items, store.Item{
			Key:         fmt.Appendf(nil, "k%04d", i),
			Value:       fmt.Appendf(nil, "v%d", i),
			ContentType: []byte("text/plain"),
		})
	}
	// A later item with the key of an earlier one wins.
	items = append(items, store.Item{Key: []byte("k0007"), Value: []byte("last"), ContentType: nil})
	mustPutAll(t, s, items)

	versions := make(map[uint64]bool)
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		it := mustGet(t, s, key)
		switch key {
		case "k0007":
			wantItem(t, it, key, "last", "", 0)
		default:
			wantItem(t, it, key, fmt.Sprintf("v%d", i), "text/plain", 0)
		}
		if versions[it.Version] {
			t.Errorf("Version of %q: got %v, shared with another key; want a new one", key, it.Version)
		}
		versions[it.Version] = true
	}
	if versions[before.Version] {
		t.Errorf("Version of k0001 after PutAll: got %v, the version before; want a new one", before.Version)
	}

	for _, batch := range [][]store.Item{nil, {}} {
		if err := s.PutAll(t.Context(), batch); err != nil {
			t.Errorf("PutAll(%#v): got %v; want %v", batch, err, nil)
		}
	}
}

func testPutAllInvalid(t *testing.T, s api.Store) {
	before := mustPut(t, s, "existing", "old", "")
	valid := func(key string) store.Item {
		return store.Item{Key: []byte(key), Value: []byte("new")}
	}
	tests := []struct {
		name string
		bad  store.Item
		want error
	}{
		{"empty key", store.Item{Key: []byte{}, Value: []byte("v")}, store.ErrEmptyKey},
		{"nil key", store.Item{Value: []byte("v")}, store.ErrEmptyKey},
		{"content type too long", store.Item{Key: []byte("ct"), ContentType: []byte(strings.Repeat("x", store.MaxContentTypeLen+1))}, store.ErrContentTypeTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bad item comes last, so a backend that writes as it goes
			// has written the others when it finds it.
			batch := []store.Item{valid("first"), valid("existing"), valid("second"), tt.bad}
			wantErr(t, "PutAll", s.PutAll(t.Context(), batch), tt.want)
			wantAbsent(t, s, "first")
			wantAbsent(t, s, "second")
			wantAbsent(t, s, "ct")
			wantItem(t, mustGet(t, s, "existing"), "existing", "old", "", before.Version)
		})
	}
}
