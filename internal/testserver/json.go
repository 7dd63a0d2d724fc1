package testserver

import "fmt"

// Walk follows path through a decoded JSON document: a key of an object,
// or an index of an array written in decimal. It is nil where the path
// leads nowhere.
func Walk(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Text is Walk as text: a string as it is, any other value printed, ""
// where the path leads nowhere.
func Text(v any, path ...string) string {
	switch x := Walk(v, path...).(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}
