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
	if len(Names()) != 6 {
		t.Errorf("bundled %v, want the six daemons", Names())
	}
	for _, name := range []string{"drover", "kubelet", "sh", ""} {
		if _, ok := Command(name); ok {
			t.Errorf("%q must not be a bundled daemon", name)
		}
	}
}
