package bench

import "testing"

func TestStatTicks(t *testing.T) {
	line := []byte("4242 (postgres) S 2274 2274 2274 0 -1 4194560 900 0 0 0 123 45 6 7 20 0 1 0 17331 3133440 414")
	if got := statTicks(line); got != 123+45+6+7 {
		t.Errorf("statTicks = %d, want %d", got, 123+45+6+7)
	}
	if got := statTicks([]byte("7 (cat) R 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20")); got != 0 {
		t.Errorf("statTicks of another command = %d, want 0", got)
	}
	if got := statTicks([]byte("7 (postgres) S 1 2")); got != 0 {
		t.Errorf("statTicks of a short line = %d, want 0", got)
	}
}
