package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Clock is a procedure period: a duration ("72h", "7d", "3s") or a number of
// working days ("20wd"), which skip Saturdays and Sundays.
type Clock struct {
	Duration    time.Duration
	WorkingDays int
}

// UnmarshalText parses either form.
func (c *Clock) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, ok := strings.CutSuffix(s, "wd"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return fmt.Errorf("working days %q: want a positive count like \"20wd\"", s)
		}
		*c = Clock{WorkingDays: days}
		return nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*c = Clock{Duration: d}
	return nil
}

// MarshalText writes the clock back.
func (c Clock) MarshalText() ([]byte, error) {
	if c.WorkingDays > 0 {
		return []byte(strconv.Itoa(c.WorkingDays) + "wd"), nil
	}
	return []byte(c.Duration.String()), nil
}

// Positive reports whether the clock is set.
func (c Clock) Positive() bool { return c.Duration > 0 || c.WorkingDays > 0 }

// From returns the moment the period started at t ends. Working days count
// whole days after t, skipping weekends, at the same time of day.
func (c Clock) From(t time.Time) time.Time {
	if c.WorkingDays == 0 {
		return t.Add(c.Duration)
	}
	end := t
	for left := c.WorkingDays; left > 0; {
		end = end.AddDate(0, 0, 1)
		if wd := end.Weekday(); wd != time.Saturday && wd != time.Sunday {
			left--
		}
	}
	return end
}

// Amount is money in cents, written "25.00" or "25000" (a whole number of units).
type Amount int64

// UnmarshalText parses a decimal amount with at most two decimals.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MarshalText writes "25.00".
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a Amount) String() string { return fmt.Sprintf("%d.%02d", int64(a)/100, int64(a)%100) }

// ParseAmount reads "25", "25.5", "25.00", "1,234.56", "25,00" (decimal comma).
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	// A comma followed by exactly two digits at the end is a decimal comma.
	if i := strings.LastIndexByte(s, ','); i >= 0 && len(s)-i == 3 && !strings.Contains(s[i:], ".") {
		s = strings.ReplaceAll(s[:i], ".", "") + "." + s[i+1:]
	}
	s = strings.ReplaceAll(s, ",", "")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e12 {
		return 0, fmt.Errorf("amount %q: want a number like 25.00", s)
	}
	return Amount(math.Round(f * 100)), nil
}
