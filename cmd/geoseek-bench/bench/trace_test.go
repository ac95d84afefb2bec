package bench

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestLongestTasks(t *testing.T) {
	ev := func(name string, pid, tid int, ts, dur float64) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"name":%q,"ph":"X","pid":%d,"tid":%d,"ts":%g,"dur":%g}`, name, pid, tid, ts, dur))
	}
	raw := []json.RawMessage{
		json.RawMessage(`{"name":"thread_name","ph":"M","pid":1,"tid":7,"args":{"name":"CrRendererMain"}}`),
		json.RawMessage(`{"name":"thread_name","ph":"M","pid":1,"tid":8,"args":{"name":"Compositor"}}`),
		// A 100 ms task: a 30 ms script that waits 20 ms on the GPU, a 50 ms
		// GC, 20 ms of its own.
		ev("ThreadControllerImpl::RunTask", 1, 7, 1000, 100000),
		ev("FunctionCall", 1, 7, 2000, 30000),
		ev("CommandBufferProxyImpl::WaitForGetOffsetInRange", 1, 7, 5000, 20000),
		ev("MajorGC", 1, 7, 40000, 50000),
		// A shorter task later, and a long one on another thread.
		ev("ThreadControllerImpl::RunTask", 1, 7, 200000, 60000),
		ev("Layout", 1, 7, 200000, 60000),
		ev("ThreadControllerImpl::RunTask", 1, 8, 0, 900000),
		// Work outside a task is no task.
		ev("ParseHTML", 1, 7, 300000, 500000),
	}
	tasks, err := longestTasks(raw, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("tasks = %v, want the two of the main thread", tasks)
	}
	want := "100 ms task at 0 ms: MajorGC 50.0, (the task itself) 20.0, CommandBufferProxyImpl::WaitForGetOffsetInRange 20.0"
	if got := tasks[0].String(); got != want {
		t.Errorf("longest task:\n got %s\nwant %s", got, want)
	}
	if got, want := tasks[1].String(), "60 ms task at 199 ms: Layout 60.0"; got != want {
		t.Errorf("second task:\n got %s\nwant %s", got, want)
	}
	if _, err := longestTasks([]json.RawMessage{json.RawMessage(`{"name":`)}, 1, 1); err == nil {
		t.Error("a broken event decoded without an error")
	}
}
