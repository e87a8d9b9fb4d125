package scaling

import "syscall"

// procAttr makes a child get SIGTERM when the test binary dies, even
// before its cleanup runs; nginx's master stops its workers on SIGTERM.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
