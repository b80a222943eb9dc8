package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStatusRecorder checks the status the request log sees against what the real writer
// sent, for each way a handler can answer.
func TestStatusRecorder(t *testing.T) {
	for name, tt := range map[string]struct {
		handler func(w http.ResponseWriter)
		want    int
	}{
		"nothing written": {func(http.ResponseWriter) {}, http.StatusOK},
		"explicit status": {func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot) }, http.StatusTeapot},
		"first status wins": {func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusInternalServerError) // superfluous: net/http ignores it
		}, http.StatusNotFound},
		"body without status": {func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		"flush before status": {func(w http.ResponseWriter) {
			_ = http.NewResponseController(w).Flush()
			w.WriteHeader(http.StatusAccepted)
		}, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			under := httptest.NewRecorder()
			rec := NewStatusRecorder(under)
			tt.handler(rec)
			if got := rec.Status(); got != tt.want {
				t.Errorf("Status() = %d, want %d", got, tt.want)
			}
			if under.Code != tt.want {
				t.Errorf("the real writer got %d, want %d", under.Code, tt.want)
			}
		})
	}
}
