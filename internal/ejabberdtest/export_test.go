package ejabberdtest

import (
	"os"
	"testing"
)

// RegisterWhileStopped is Register without failing the test.
func RegisterWhileStopped(s *Server) error {
	return s.registerUsers(map[string]string{"x": "y"})
}

// ReachableTempDir is a temporary folder the ejabberd user can reach
// (t.TempDir's parent is not), removed at the end of the test.
func ReachableTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ejabberdtest-demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
