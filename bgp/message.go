package bgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Message types and sizes (RFC 4271 §4.1, RFC 2918 §3).
const (
	headerLen     = 19
	maxMessageLen = 4096

	msgOpen         = 1
	msgUpdate       = 2
	msgNotification = 3
	msgKeepalive    = 4
	msgRouteRefresh = 5
)

// minLen is the smallest legal length of each message type.
var minLen = map[uint8]int{
	msgOpen:         29,
	msgUpdate:       23,
	msgNotification: 21,
	msgKeepalive:    19,
	msgRouteRefresh: 23,
}

// readMessage reads one message and checks its header (RFC 4271 §6.1).
// A header error comes back as a *Notification to send; other errors
// are the transport's.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if err := checkHeader(hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func checkHeader(hdr []byte) error {
	for _, b := range hdr[:16] {
		if b != 0xff {
			return notify(CodeMessageHeader, 1, nil)
		}
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	typ := hdr[18]
	lenData := append([]byte(nil), hdr[16:18]...)
	if n < headerLen || n > maxMessageLen {
		return notify(CodeMessageHeader, 2, lenData)
	}
	min, ok := minLen[typ]
	if !ok {
		return notify(CodeMessageHeader, 3, []byte{typ})
	}
	if n < min || (typ == msgKeepalive && n != headerLen) || (typ == msgRouteRefresh && n != 23) {
		return notify(CodeMessageHeader, 2, lenData)
	}
	return nil
}

// parseMessage decodes a message whose header has been checked. The
// error, if any, is a *bgp.MessageError from the codec; a panic in the
// codec on hostile input is turned into one too, so that a peer can end
// only its own session.
func parseMessage(raw []byte) (m *bgp.BGPMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			m = nil
			err = bgp.NewMessageError(CodeUpdateMessage, 1, nil, fmt.Sprintf("codec panic: %v", r))
		}
	}()
	return bgp.ParseBGPMessage(raw)
}

// asNotification maps a codec error onto the NOTIFICATION it calls for.
func asNotification(err error, typ uint8) *Notification {
	var n *Notification
	if errors.As(err, &n) {
		return n
	}
	var me *bgp.MessageError
	if errors.As(err, &me) && me.TypeCode != 0 {
		return notify(me.TypeCode, me.SubTypeCode, me.Data)
	}
	switch typ {
	case msgOpen:
		return notify(CodeOpenMessage, 0, nil)
	case msgRouteRefresh:
		return notify(CodeRouteRefresh, 1, nil)
	}
	return notify(CodeUpdateMessage, 1, nil)
}

func serialize(m *bgp.BGPMessage) []byte {
	b, err := m.Serialize()
	if err != nil {
		// Our own messages are built within limits; this is a bug.
		panic(fmt.Sprintf("bgp: serialize %T: %v", m.Body, err))
	}
	return b
}
