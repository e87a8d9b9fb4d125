//go:build linux

package nginxtest

import "syscall"

// procAttr makes nginx get SIGTERM when the test binary dies, even before
// its cleanup runs.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
