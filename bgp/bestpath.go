package bgp

import (
	"cmp"
	"slices"
)

// comparePaths orders two paths for the decision process of RFC 4271
// §9.1.2.2: it returns a negative number when a is better. The steps,
// in order:
//
//  0. a locally originated path wins (as a zero-length AS path from us)
//  1. highest LOCAL_PREF
//  2. shortest AS_PATH
//  3. lowest ORIGIN (IGP < EGP < INCOMPLETE)
//  4. lowest MULTI_EXIT_DISC, only between paths from the same neighbour AS
//  5. eBGP over iBGP
//  6. lowest BGP Identifier of the advertising neighbour
//  7. lowest neighbour address
//
// multipathEqual tells whether two paths tie through step 5, which makes
// them equal-cost for ECMP.
func comparePaths(a, b *Path) int {
	if c := compareThroughEBGP(a, b); c != 0 {
		return c
	}
	if c := a.PeerID.Compare(b.PeerID); c != 0 {
		return c
	}
	return a.Peer.Compare(b.Peer)
}

func compareThroughEBGP(a, b *Path) int {
	if a.Local() != b.Local() {
		if a.Local() {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.LocalPref, a.LocalPref); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ASPath.Len(), b.ASPath.Len()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	if a.ASPath.First() == b.ASPath.First() {
		// RFC 4271 §9.1.2.2 (c): a missing MED is the lowest value.
		if c := cmp.Compare(a.MED, b.MED); c != 0 {
			return c
		}
	}
	if a.EBGP != b.EBGP {
		if a.EBGP {
			return -1
		}
		return 1
	}
	return 0
}

func multipathEqual(a, b *Path) bool { return compareThroughEBGP(a, b) == 0 }

// selectBest sorts candidates best first and returns the ECMP set: the
// best path and those equal to it through step 5, at most maxPaths.
// Locally originated paths never form a multipath set.
func selectBest(cands []*Path, maxPaths int) []*Path {
	if len(cands) == 0 {
		return nil
	}
	slices.SortStableFunc(cands, comparePaths)
	best := []*Path{cands[0]}
	if cands[0].Local() {
		return best
	}
	for _, p := range cands[1:] {
		if len(best) >= max(maxPaths, 1) || !multipathEqual(cands[0], p) {
			break
		}
		best = append(best, p)
	}
	return best
}
