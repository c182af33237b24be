package bgp

// State is a BGP FSM state (RFC 4271 §8.2.2).
type State uint8

// The states of RFC 4271 §8.2.2.
const (
	Idle State = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
)

var stateNames = [...]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + string(rune('0'+s)) + ")"
}

// timerKind names a neighbour's timers (RFC 4271 §8.1.3 and §8.2.1.1's
// IdleHoldTimer for automatic restarts).
type timerKind uint8

const (
	connectRetryTimer timerKind = iota
	holdTimer
	keepaliveTimer
	idleHoldTimer
	numTimers
)

// largeHoldTime is the hold time in OpenSent, "a large value" that RFC
// 4271 §8.2.2 suggests be 4 minutes.
const largeHoldTime = 240
