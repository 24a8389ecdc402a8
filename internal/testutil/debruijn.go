package testutil

// DeBruijnDigits is a string of decimal digits holding every n-digit string once (10^n + n-1
// digits): every 6-digit PIN in about 1 MB, the candidate list a caller can send in one call.
func DeBruijnDigits(n int) string {
	a := make([]byte, 10*n)
	var seq []byte
	var db func(t, p int)
	db = func(t, p int) {
		if t > n {
			if n%p == 0 {
				seq = append(seq, a[1:p+1]...)
			}
			return
		}
		a[t] = a[t-p]
		db(t+1, p)
		for j := a[t-p] + 1; j < 10; j++ {
			a[t] = j
			db(t+1, t)
		}
	}
	db(1, 1)
	seq = append(seq, seq[:n-1]...) // the last strings wrap around
	for i := range seq {
		seq[i] += '0'
	}
	return string(seq)
}
