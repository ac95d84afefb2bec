package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"
)

// traceCategories are what a browser trace records: the renderer's tasks
// (toplevel), what runs inside them (scripts, GC, style, layout, paint) and
// the GPU command buffer traffic that software WebGL waits on.
var traceCategories = []string{
	"toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline",
	"v8", "v8.execute", "blink", "gpu", "cc", "loading",
}

// traceEvent is one event of a Chrome trace (the JSON trace event format).
type traceEvent struct {
	Name string          `json:"name"`
	Cat  string          `json:"cat"`
	Ph   string          `json:"ph"`
	TS   float64         `json:"ts"`  // µs
	Dur  float64         `json:"dur"` // µs, complete events ("X")
	PID  int             `json:"pid"`
	TID  int             `json:"tid"`
	Args json.RawMessage `json:"args,omitempty"`
}

// browserTrace records a Chrome trace of a tab between start and stop.
type browserTrace struct {
	mu     sync.Mutex
	events []json.RawMessage
	done   chan struct{}
}

// startTrace starts tracing the tab of ctx; stop ends it and returns the
// events, waiting at most bound for the browser to hand them over.
func startTrace(ctx context.Context) (*browserTrace, error) {
	t := &browserTrace{done: make(chan struct{})}
	var once sync.Once
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *tracing.EventDataCollected:
			t.mu.Lock()
			for _, v := range e.Value {
				t.events = append(t.events, json.RawMessage(v))
			}
			t.mu.Unlock()
		case *tracing.EventTracingComplete:
			once.Do(func() { close(t.done) })
		}
	})
	if err != nil {
		return nil, fmt.Errorf("trace: listen: %w", err)
	}
	_, err = chromedp.Call(ctx, tracing.Start, tracing.StartParams{
		TransferMode: tracing.StartTransferModeReportEvents,
		TraceConfig:  &tracing.TraceConfig{IncludedCategories: traceCategories},
	})
	if err != nil {
		return nil, fmt.Errorf("trace: start: %w", err)
	}
	return t, nil
}

func (t *browserTrace) stop(ctx context.Context, bound time.Duration) ([]json.RawMessage, error) {
	if _, err := chromedp.Call(ctx, tracing.End, struct{}{}); err != nil {
		return nil, fmt.Errorf("trace: end: %w", err)
	}
	select {
	case <-t.done:
	case <-time.After(bound):
		return nil, fmt.Errorf("trace: the browser did not hand the trace over within %s", bound)
	case <-ctx.Done():
		return nil, fmt.Errorf("trace: %w", ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.events, nil
}

// writeTrace writes events as a trace file that Chrome's performance panel
// and Perfetto open.
func writeTrace(path string, events []json.RawMessage) error {
	b, err := json.Marshal(map[string]any{"traceEvents": events})
	if err != nil {
		return fmt.Errorf("trace: encode: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("trace: write: %w", err)
	}
	return nil
}

// traceTask is one task of the renderer's main thread: its length and the
// events that took its time, by self time (time not spent in a nested event).
type traceTask struct {
	At, Dur float64 // ms from the trace's first task, ms
	Parts   []tracePart
}

type tracePart struct {
	Name string
	Self float64 // ms
}

func (t traceTask) String() string {
	parts := make([]string, 0, len(t.Parts))
	for _, p := range t.Parts {
		parts = append(parts, fmt.Sprintf("%s %.1f", p.Name, p.Self))
	}
	return fmt.Sprintf("%.0f ms task at %.0f ms: %s", t.Dur, t.At, strings.Join(parts, ", "))
}

// longestTasks decodes a trace and returns the n longest tasks of the
// renderer main threads (CrRendererMain) with the top parts of each.
func longestTasks(raw []json.RawMessage, n, parts int) ([]traceTask, error) {
	var evs []traceEvent
	main := map[[2]int]bool{}
	for _, r := range raw {
		var e traceEvent
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("trace: decode event: %w", err)
		}
		if e.Ph == "M" && e.Name == "thread_name" && strings.Contains(string(e.Args), `"CrRendererMain"`) {
			main[[2]int{e.PID, e.TID}] = true
		}
		if e.Ph == "X" {
			evs = append(evs, e)
		}
	}
	byThread := map[[2]int][]traceEvent{}
	for _, e := range evs {
		if k := [2]int{e.PID, e.TID}; main[k] {
			byThread[k] = append(byThread[k], e)
		}
	}
	var tasks []traceTask
	for _, list := range byThread {
		tasks = append(tasks, threadTasks(list, parts)...)
	}
	slices.SortFunc(tasks, func(a, b traceTask) int { return cmp.Compare(b.Dur, a.Dur) })
	return tasks[:min(n, len(tasks))], nil
}

// isTask says whether e is a task of the thread's scheduler.
func isTask(e traceEvent) bool {
	return e.Name == "ThreadControllerImpl::RunTask" || e.Name == "RunTask"
}

// threadTasks nests the complete events of one thread and returns its
// outermost tasks, each with its parts by self time, the longest first.
func threadTasks(evs []traceEvent, parts int) []traceTask {
	slices.SortFunc(evs, func(a, b traceEvent) int {
		if c := cmp.Compare(a.TS, b.TS); c != 0 {
			return c
		}
		return cmp.Compare(b.Dur, a.Dur)
	})
	var origin float64
	if len(evs) > 0 {
		origin = evs[0].TS
	}
	type open struct {
		e     traceEvent
		child float64 // µs spent in nested events
	}
	var stack []open
	var tasks []traceTask
	var self map[string]float64
	var cur *traceEvent
	closeTo := func(ts float64) {
		for len(stack) > 0 && stack[len(stack)-1].e.TS+stack[len(stack)-1].e.Dur <= ts {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].child += top.e.Dur
			}
			if cur != nil && (!isTask(top.e) || len(stack) > 0) {
				self[top.e.Name] += top.e.Dur - top.child
			}
			if len(stack) == 0 && cur != nil {
				if own := top.e.Dur - top.child; own > 0 {
					self["(the task itself)"] += own
				}
				tasks = append(tasks, traceTask{At: (cur.TS - origin) / 1000, Dur: cur.Dur / 1000, Parts: topParts(self, parts)})
				cur = nil
			}
		}
	}
	for i := range evs {
		e := evs[i]
		closeTo(e.TS)
		if len(stack) == 0 {
			if !isTask(e) {
				continue // work outside any task is not a task
			}
			cur, self = &evs[i], map[string]float64{}
		}
		stack = append(stack, open{e: e})
	}
	closeTo(1e300)
	return tasks
}

func topParts(self map[string]float64, n int) []tracePart {
	ps := make([]tracePart, 0, len(self))
	for name, us := range self {
		ps = append(ps, tracePart{Name: name, Self: us / 1000})
	}
	slices.SortFunc(ps, func(a, b tracePart) int {
		if c := cmp.Compare(b.Self, a.Self); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ps[:min(n, len(ps))]
}
