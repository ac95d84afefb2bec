package httpx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/geoseek/geoseek/internal/pg"
	"github.com/geoseek/geoseek/internal/problem"
)

// TestRespondToAStoppedStatement: a statement the server stopped because
// the request's context ended answers for that context (a client gone:
// 499 in the logs; the request's deadline: a timeout), and a statement
// timeout stays a timeout whatever the context.
func TestRespondToAStoppedStatement(t *testing.T) {
	gin.SetMode(gin.TestMode)
	stopped := pg.Interpret(&pgconn.PgError{Code: pg.QueryCanceled, Message: "canceling statement due to user request"})
	timedOut := pg.Interpret(&pgconn.PgError{Code: pg.QueryCanceled, Message: "canceling statement due to statement timeout"})
	gone, leave := context.WithCancel(context.Background())
	leave()
	late, stop := context.WithTimeout(context.Background(), 0)
	defer stop()
	<-late.Done()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		status int
	}{
		{"client gone", gone, stopped, 499},
		{"request deadline", late, stopped, problem.ErrTimeout.Status},
		{"statement timeout, client gone", gone, timedOut, problem.ErrTimeout.Status},
		{"statement timeout", context.Background(), timedOut, problem.ErrTimeout.Status},
	} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/search", nil).WithContext(tc.ctx)
		Respond(c, tc.err)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, w.Code, tc.status, w.Body)
		}
		var d problem.Details
		if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || d.Status != tc.status {
			t.Errorf("%s: body %s (%v)", tc.name, w.Body, err)
		}
	}
}
