package bfd

import "time"

type State uint8

const (
	AdminDown State = iota
	Down
	Init
	Up
)

type Diag uint8

type Change struct {
	Old, New State
	Diag     Diag
	At       time.Time
}

type Status struct {
	State      State
	TxInterval time.Duration
	DetectMult uint8
}

type Session struct{}

func (s *Session) Subscribe(f func(Change)) (cancel func()) { return func() {} }
func (s *Session) Status() Status                           { return Status{} }

func (s State) String() string { return "" }
