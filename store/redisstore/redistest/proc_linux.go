package redistest

import "syscall"

// procAttr makes a redis-server die with the test binary, even when the
// binary is killed before its cleanup runs (a test timeout, a signal).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
