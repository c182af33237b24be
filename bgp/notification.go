package bgp

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Notification is a BGP NOTIFICATION (RFC 4271 §4.5): the error that ends
// a session.
type Notification struct {
	Code    uint8
	Subcode uint8
	Data    []byte
}

// NOTIFICATION error codes (RFC 4271 §4.5, RFC 2918, RFC 4486, RFC 9384).
const (
	CodeMessageHeader = 1
	CodeOpenMessage   = 2
	CodeUpdateMessage = 3
	CodeHoldTimer     = 4
	CodeFSM           = 5
	CodeCease         = 6
	CodeRouteRefresh  = 7

	// Cease subcodes (RFC 4486, RFC 9384).
	CeaseMaxPrefixes         = 1
	CeaseAdminShutdown       = 2
	CeasePeerDeconfigured    = 3
	CeaseAdminReset          = 4
	CeaseConnectionRejected  = 5
	CeaseConfigChange        = 6
	CeaseConnectionCollision = 7
	CeaseOutOfResources      = 8
	CeaseHardReset           = 9
	CeaseBFDDown             = 10
)

var codeNames = map[uint8]string{
	1: "Message Header Error",
	2: "OPEN Message Error",
	3: "UPDATE Message Error",
	4: "Hold Timer Expired",
	5: "Finite State Machine Error",
	6: "Cease",
	7: "ROUTE-REFRESH Message Error",
}

var subcodeNames = map[[2]uint8]string{
	{1, 1}:  "Connection Not Synchronized",
	{1, 2}:  "Bad Message Length",
	{1, 3}:  "Bad Message Type",
	{2, 1}:  "Unsupported Version Number",
	{2, 2}:  "Bad Peer AS",
	{2, 3}:  "Bad BGP Identifier",
	{2, 4}:  "Unsupported Optional Parameter",
	{2, 6}:  "Unacceptable Hold Time",
	{2, 7}:  "Unsupported Capability",
	{3, 1}:  "Malformed Attribute List",
	{3, 2}:  "Unrecognized Well-known Attribute",
	{3, 3}:  "Missing Well-known Attribute",
	{3, 4}:  "Attribute Flags Error",
	{3, 5}:  "Attribute Length Error",
	{3, 6}:  "Invalid ORIGIN Attribute",
	{3, 8}:  "Invalid NEXT_HOP Attribute",
	{3, 9}:  "Optional Attribute Error",
	{3, 10}: "Invalid Network Field",
	{3, 11}: "Malformed AS_PATH",
	{5, 1}:  "Receive Unexpected Message in OpenSent State",
	{5, 2}:  "Receive Unexpected Message in OpenConfirm State",
	{5, 3}:  "Receive Unexpected Message in Established State",
	{6, 1}:  "Maximum Number of Prefixes Reached",
	{6, 2}:  "Administrative Shutdown",
	{6, 3}:  "Peer De-configured",
	{6, 4}:  "Administrative Reset",
	{6, 5}:  "Connection Rejected",
	{6, 6}:  "Other Configuration Change",
	{6, 7}:  "Connection Collision Resolution",
	{6, 8}:  "Out of Resources",
	{6, 9}:  "Hard Reset",
	{6, 10}: "BFD Down",
	{7, 1}:  "Invalid Message Length",
}

// CodeName is the RFC's name for the error code.
func (n *Notification) CodeName() string {
	if s, ok := codeNames[n.Code]; ok {
		return s
	}
	return fmt.Sprintf("code %d", n.Code)
}

// SubcodeName is the RFC's name for the subcode, or its number.
func (n *Notification) SubcodeName() string {
	if s, ok := subcodeNames[[2]uint8{n.Code, n.Subcode}]; ok {
		return s
	}
	return fmt.Sprintf("subcode %d", n.Subcode)
}

func (n *Notification) String() string {
	s := n.CodeName() + " / " + n.SubcodeName()
	if len(n.Data) > 0 {
		s += " (data " + hex.EncodeToString(n.Data) + ")"
	}
	return s
}

func (n *Notification) Error() string { return "bgp: NOTIFICATION " + n.String() }

func (n *Notification) message() *bgp.BGPMessage {
	return bgp.NewBGPNotificationMessage(n.Code, n.Subcode, n.Data)
}

func notify(code, subcode uint8, data []byte) *Notification {
	return &Notification{Code: code, Subcode: subcode, Data: data}
}

// NotificationEvent is a NOTIFICATION sent or received, with when.
type NotificationEvent struct {
	Notification
	At time.Time
}
