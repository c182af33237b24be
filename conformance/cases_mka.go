package conformance

func mkaCases() []testCase { return nil }
