// Package countertest checks, for tests, that a stats type's Counters
// method lists every uint64 field, by its name and in declaration order:
// the one place reflection looks at counters, so that a counter added to a
// struct and forgotten in its list fails a test.
package countertest

import (
	"reflect"
	"testing"

	"github.com/secylab/secylab/macsec"
)

// Check fills each uint64 field of stats (a struct value) with a distinct
// value through set and compares list's result with the fields, in order.
// Fields of nested structs are listed under prefix+field name of the
// nested struct's name (e.g. Impair.Lost as ImpairLost).
func Check[T any](t *testing.T, list func(T) []macsec.Counter) {
	t.Helper()
	var s T
	v := reflect.ValueOf(&s).Elem()
	var want []macsec.Counter
	n := uint64(0)
	var fill func(v reflect.Value, prefix string)
	fill = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			switch f.Kind() {
			case reflect.Uint64:
				n++
				f.SetUint(n)
				want = append(want, macsec.Counter{Name: prefix + sf.Name, Value: n})
			case reflect.Struct:
				fill(f, prefix+sf.Name)
			}
		}
	}
	fill(v, "")
	got := list(s)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%T.Counters() = %v, want every uint64 field in order: %v", s, got, want)
	}
}
