package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// envSettings maps each LATCHKEY_* variable name to the field it overrides,
// walking v (a struct) by its yaml tags.
func envSettings(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshalerType) {
			envSettings(v.Field(i), prefix+name+".", out)
			continue
		}
		out[EnvPrefix+strings.ToUpper(strings.ReplaceAll(prefix+name, ".", "_"))] = v.Field(i)
	}
}

// applyEnv applies LATCHKEY_* overrides from env to target (a pointer to a
// struct). Unknown LATCHKEY_* names (other than EnvConfigPath and the
// LATCHKEY_TEST_* namespace) and unparsable
// values are errors naming the variable; values are never echoed.
func applyEnv(target any, env []string) error {
	settings := map[string]reflect.Value{}
	envSettings(reflect.ValueOf(target).Elem(), "", settings)
	var errs []error
	for _, kv := range env {
		key, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(key, EnvPrefix) || key == EnvConfigPath || strings.HasPrefix(key, EnvTestPrefix) {
			continue
		}
		v, ok := settings[key]
		if !ok {
			msg := fmt.Sprintf("config: unknown environment variable %s", key)
			if s := closest(key, settings); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if err := setValue(v, val); err != nil {
			errs = append(errs, fmt.Errorf("config: environment variable %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// setValue parses s into v according to v's type.
func setValue(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return errors.New("must be true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return errors.New("must be an integer")
		}
		v.SetInt(n)
	case reflect.Slice:
		out := reflect.MakeSlice(v.Type(), 0, 0)
		switch {
		case strings.TrimSpace(s) == "":
		case v.Type().Elem().Kind() == reflect.String:
			for part := range strings.SplitSeq(s, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = reflect.Append(out, reflect.ValueOf(part).Convert(v.Type().Elem()))
				}
			}
		default: // JSON (or YAML flow) list, strictly decoded by yaml tags
			p := reflect.New(v.Type())
			dec := yaml.NewDecoder(strings.NewReader(s))
			dec.KnownFields(true)
			if err := dec.Decode(p.Interface()); err != nil {
				return fmt.Errorf("must be a JSON list, e.g. [{\"name\": ...}]: %v", err)
			}
			out = p.Elem()
		}
		v.Set(out)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// closest returns the known name nearest to key (edit distance <= 3), or "".
func closest(key string, known map[string]reflect.Value) string {
	best, bestD := "", 4
	for k := range known {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
