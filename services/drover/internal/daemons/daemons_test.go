package daemons

import "testing"

func TestCommandByProgramName(t *testing.T) {
	for _, name := range Names() {
		cmd, ok := Command(name)
		if !ok {
			t.Fatalf("%s: not bundled", name)
		}
		if cmd.Name() != name {
			t.Errorf("program %s runs command %q", name, cmd.Name())
		}
	}
	if len(Names()) != 5 {
		t.Errorf("bundled %v, want the five daemons other than the kubelet", Names())
	}
	for _, name := range []string{"drover", "drover-kubelet", "sh", ""} {
		if _, ok := Command(name); ok {
			t.Errorf("%q must not be a bundled daemon", name)
		}
	}
}
