package conformance

func ipsecCases() []testCase { return nil }
