// Least squares with exponential forgetting over a few features, coefficients kept >= 0: what
// the load models (step cost, prompt length from body size) fit online, one observation at a
// time, in constant memory.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>

namespace tandem::routing {

template <size_t N>
class LinearFit {
 public:
  explicit LinearFit(double forgetting) : forgetting_(forgetting) {}

  void observe(const std::array<double, N>& x, double y) {
    for (size_t i = 0; i < N; ++i) {
      for (size_t j = 0; j < N; ++j) xx_[i][j] = forgetting_ * xx_[i][j] + x[i] * x[j];
      xy_[i] = forgetting_ * xy_[i] + x[i] * y;
    }
  }

  // Whether feature i was ever non-zero (else its coefficient is 0 and means nothing).
  bool seen(size_t i) const { return xx_[i][i] > 0; }

  // The coefficients, none negative. A feature whose fitted coefficient comes out negative is
  // left out and the rest refitted (an active set, exact for N this small); features that are
  // collinear in the data share their part through a tiny ridge term.
  std::array<double, N> solve() const {
    std::array<bool, N> active{};
    for (size_t i = 0; i < N; ++i) active[i] = seen(i);
    std::array<double, N> beta{};
    for (size_t round = 0; round < N; ++round) {
      beta = solve_active(active);
      size_t worst = N;
      for (size_t i = 0; i < N; ++i) {
        if (active[i] && beta[i] < 0 && (worst == N || beta[i] < beta[worst])) worst = i;
      }
      if (worst == N) return beta;
      active[worst] = false;
    }
    return beta;
  }

 private:
  std::array<double, N> solve_active(const std::array<bool, N>& active) const {
    // Gaussian elimination with partial pivoting on the active block of (X^T X + ridge) b = X^T y.
    std::array<std::array<double, N + 1>, N> m{};
    std::array<size_t, N> index{};
    size_t n = 0;
    for (size_t i = 0; i < N; ++i) {
      if (active[i]) index[n++] = i;
    }
    for (size_t r = 0; r < n; ++r) {
      for (size_t c = 0; c < n; ++c) m[r][c] = xx_[index[r]][index[c]];
      m[r][r] *= 1.0 + 1e-9;
      m[r][n] = xy_[index[r]];
    }
    for (size_t col = 0; col < n; ++col) {
      size_t pivot = col;
      for (size_t r = col + 1; r < n; ++r) {
        if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
      }
      std::swap(m[col], m[pivot]);
      if (m[col][col] == 0) continue;
      for (size_t r = 0; r < n; ++r) {
        if (r == col) continue;
        double f = m[r][col] / m[col][col];
        for (size_t c = col; c <= n; ++c) m[r][c] -= f * m[col][c];
      }
    }
    std::array<double, N> beta{};
    for (size_t r = 0; r < n; ++r) beta[index[r]] = m[r][r] != 0 ? m[r][n] / m[r][r] : 0;
    return beta;
  }

  double forgetting_;
  std::array<std::array<double, N>, N> xx_{};  // weighted sum of x x^T
  std::array<double, N> xy_{};                 // weighted sum of x y
};

}  // namespace tandem::routing
