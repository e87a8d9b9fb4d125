package redistest

import (
	"strings"
	"testing"
)

func TestServerKillRestart(t *testing.T) {
	Skip(t, false)
	s, err := NewServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if reply, err := s.Command("PING"); err != nil || reply != "+PONG" {
		t.Fatalf("PING: got %q, %v; want %q", reply, err, "+PONG")
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Errorf("Running() after Kill: got %v; want %v", true, false)
	}
	if _, err := s.Command("PING"); err == nil {
		t.Errorf("PING after Kill: got %v; want an error", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info("INFO", "server")
	if err != nil || !strings.Contains(info, "tcp_port:"+s.Addr[strings.LastIndex(s.Addr, ":")+1:]) {
		t.Errorf("INFO server after Restart: got %.80q, %v; want the same port", info, err)
	}
}

func TestStartServer(t *testing.T) {
	addr := StartServer(t, "--maxmemory", "10mb")
	s := &Server{Addr: addr}
	if info, err := s.Info("INFO", "memory"); err != nil || !strings.Contains(info, "maxmemory:10485760") {
		t.Errorf("INFO memory: got %v; want maxmemory:10485760 from the extra arguments", err)
	}
}
