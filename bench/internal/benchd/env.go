package benchd

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// The benchmark tools take their knobs from the environment, as the scripts
// that run them document; an unset variable means the default.

// EnvInt reads a whole number.
func EnvInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number: %w", name, v, err)
	}
	return n, nil
}

// EnvFloat reads a number.
func EnvFloat(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a number: %w", name, v, err)
	}
	return f, nil
}

// EnvDuration takes a Go duration ("20s", "1m") or plain seconds ("20").
func EnvDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(s * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 20s, or seconds: %w", name, v, err)
	}
	return d, nil
}
