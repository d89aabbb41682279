package httpapi

import (
	"net/http"
	"strconv"
)

// handleHealthz serves /healthz: 200 "ok" for as long as the process
// serves HTTP at all (liveness). It asks nothing of the XMPP side.
func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeOK(w)
}

// handleReadyz serves /readyz: 200 "ok" while the Confirmer can send
// requests (the XMPP stream is up), else 503 with the reason in one line
// (not connected, or shutting down), in text or JSON like /auth's
// answers. Nothing is logged: probes would drown the decision log.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.confirmer.Ready(); err != nil {
		write(w, r, statusOf(&notReadyError{err: err}), "", "")
		return
	}
	writeOK(w)
}

// writeOK answers a health check that passes: "ok", never cached.
func writeOK(w http.ResponseWriter) {
	const body = "ok\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body))
}
