// ssm_lane: one lane of the complex diagonal state update of an SSM accelerator's CMAC unit.
//
// Per state and step, for each part (re, im), exactly as docs/vectors.md ("The CMAC lane's
// contract") and docs/fixed_point.md (sections 2, 9.1 and 9.3) define it:
//
//   prod_re = ar*xr - ai*xi            prod_im = ar*xi + ai*xr          (exact)
//   S       = max(sa, sb)
//   sum     = prod*ka * 2^(S-sa) + bu*kb * 2^(S-sb)                     (exact in SUMW bits)
//   x_out   = fit(round_shift(sum, S, ROUNDING), XW bits, OVERFLOW)
//
// ROUNDING (the hardware form of docs/fixed_point.md section 2 for a right shift by S; S = 0 is
// exact and never rounds):
//   0 floor   1 toward_zero   2 half_up   3 half_down   4 half_even   5 half_away
//   6 half_toward_zero
// OVERFLOW (applied to the rounded integer against the signed XW-bit range):
//   0 wrap   1 saturate   2 saturate_symmetric ([-max, max]; -2^(XW-1) itself becomes -max)
// ovf_re / ovf_im: the overflow step changed the value (one overflow event of the C-model).
//
// Pipeline: stage 1 registers the exact aligned sums (the multiplies, the alignment shifts and
// the add), stage 2 the rounded and fitted outputs. Inputs sampled at rising edge k appear on the
// outputs after rising edge k+1 (latency 2, one input per clock, no stalls). Reset is synchronous
// and active low; it clears the valid chain and the output registers.
//
// Requirements on the parameters: XW >= 2; SUMW > AW + XW + 1 + KW and SUMW > BUW + KW (the
// products before alignment); the exact sum must fit SUMW bits (the contract bounds it by 2^126,
// so the default 128 suffices); every shift 0 .. 2^SW - 1 must be below SUMW (127 < 128). Verilog-2005, synthesizable;
// the datapath is written for exactness, not timing (a real lane would split stage 1's chained
// multiplies and its 128-bit barrel shifters over more stages).
module ssm_lane #(
    parameter integer AW = 16,         // A code width (ar, ai)
    parameter integer XW = 16,         // state width (xr, xi, xr_out, xi_out)
    parameter integer BUW = 64,        // B_bar u width (exact input term)
    parameter integer KW = 32,         // scaled-sum multiplier width (ka, kb)
    parameter integer SW = 7,          // shift width (sa, sb: unsigned)
    parameter integer SUMW = 128,      // internal exact width
    parameter integer ROUNDING = 4,    // 0..6, see above (default half_even)
    parameter integer OVERFLOW = 1     // 0..2, see above (default saturate)
) (
    input  wire                   clk,
    input  wire                   rst_n,
    input  wire                   in_valid,
    input  wire signed [AW-1:0]   ar,
    input  wire signed [AW-1:0]   ai,
    input  wire signed [XW-1:0]   xr,
    input  wire signed [XW-1:0]   xi,
    input  wire signed [BUW-1:0]  bu_re,
    input  wire signed [BUW-1:0]  bu_im,
    input  wire signed [KW-1:0]   ka,
    input  wire signed [KW-1:0]   kb,
    input  wire        [SW-1:0]   sa,
    input  wire        [SW-1:0]   sb,
    output reg                    out_valid,
    output reg  signed [XW-1:0]   xr_out,
    output reg  signed [XW-1:0]   xi_out,
    output reg                    ovf_re,
    output reg                    ovf_im
);

  localparam integer PW = AW + XW + 1;    // exact complex product
  localparam integer PKW = PW + KW;       // product times ka
  localparam integer BKW = BUW + KW;      // B_bar u times kb

  // ---------------------------------------------------------------- stage 1: exact aligned sum
  wire signed [PW-1:0] prod_re = ar * xr - ai * xi;
  wire signed [PW-1:0] prod_im = ar * xi + ai * xr;

  wire signed [PKW-1:0] pk_re = prod_re * ka;
  wire signed [PKW-1:0] pk_im = prod_im * ka;
  wire signed [BKW-1:0] bk_re = bu_re * kb;
  wire signed [BKW-1:0] bk_im = bu_im * kb;

  wire [SW-1:0] s_max = (sa > sb) ? sa : sb;
  wire [SW-1:0] up_a = s_max - sa;
  wire [SW-1:0] up_b = s_max - sb;

  // sign extension to SUMW, then the exact left shift
  wire signed [SUMW-1:0] pk_re_w = {{(SUMW-PKW){pk_re[PKW-1]}}, pk_re};
  wire signed [SUMW-1:0] pk_im_w = {{(SUMW-PKW){pk_im[PKW-1]}}, pk_im};
  wire signed [SUMW-1:0] bk_re_w = {{(SUMW-BKW){bk_re[BKW-1]}}, bk_re};
  wire signed [SUMW-1:0] bk_im_w = {{(SUMW-BKW){bk_im[BKW-1]}}, bk_im};
  wire signed [SUMW-1:0] sum_re = (pk_re_w <<< up_a) + (bk_re_w <<< up_b);
  wire signed [SUMW-1:0] sum_im = (pk_im_w <<< up_a) + (bk_im_w <<< up_b);

  reg                   v1;
  reg signed [SUMW-1:0] sum_re_q;
  reg signed [SUMW-1:0] sum_im_q;
  reg        [SW-1:0]   s_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      v1 <= 1'b0;
      sum_re_q <= {SUMW{1'b0}};
      sum_im_q <= {SUMW{1'b0}};
      s_q <= {SW{1'b0}};
    end else begin
      v1 <= in_valid;
      if (in_valid) begin
        sum_re_q <= sum_re;
        sum_im_q <= sum_im;
        s_q <= s_max;
      end
    end
  end

  // ---------------------------------------------------------------- stage 2: round and fit
  // The discarded bits of a right shift by s_q: r = sum & low_mask; the half bit 2^(s-1) is the
  // guard, the bits below it the sticky. Both masks are 0 when s_q == 0 (nothing is rounded).
  wire [SUMW-1:0] low_mask = ~({SUMW{1'b1}} << s_q);       // 2^s - 1
  wire [SUMW-1:0] below_half = low_mask >> 1;              // 2^(s-1) - 1
  wire [SUMW-1:0] half_bit = low_mask ^ below_half;        // 2^(s-1)

  wire signed [SUMW-1:0] q_re = sum_re_q >>> s_q;
  wire signed [SUMW-1:0] q_im = sum_im_q >>> s_q;

  wire guard_re = |(sum_re_q & half_bit);
  wire guard_im = |(sum_im_q & half_bit);
  wire sticky_re = |(sum_re_q & below_half);
  wire sticky_im = |(sum_im_q & below_half);
  wire neg_re = sum_re_q[SUMW-1];  // p < 0, equivalently q < 0
  wire neg_im = sum_im_q[SUMW-1];

  // Whether the rounding adds one to q (docs/fixed_point.md section 2): with r > h = guard &
  // sticky, r == h = guard & ~sticky, r >= h = guard, r != 0 = guard | sticky.
  function round_inc;
    input guard;
    input sticky;
    input neg;
    input odd;
    begin
      case (ROUNDING)
        0: round_inc = 1'b0;                                        // floor
        1: round_inc = neg & (guard | sticky);                      // toward_zero
        2: round_inc = guard;                                       // half_up
        3: round_inc = guard & sticky;                              // half_down
        4: round_inc = guard & (sticky | odd);                      // half_even
        5: round_inc = guard & (sticky | ~neg);                     // half_away
        6: round_inc = guard & (sticky | neg);                      // half_toward_zero
        default: round_inc = 1'b0;
      endcase
    end
  endfunction

  wire inc_re = round_inc(guard_re, sticky_re, neg_re, q_re[0]);
  wire inc_im = round_inc(guard_im, sticky_im, neg_im, q_im[0]);
  // |sum| < 2^126, so the increment cannot carry out of SUMW bits
  wire signed [SUMW-1:0] r_re = q_re + {{(SUMW-1){1'b0}}, inc_re};
  wire signed [SUMW-1:0] r_im = q_im + {{(SUMW-1){1'b0}}, inc_im};

  // fit into XW bits: in range when bits SUMW-1 .. XW-1 all equal the sign
  localparam [XW-1:0] XMAX = {1'b0, {(XW-1){1'b1}}};
  localparam [XW-1:0] XMIN = {1'b1, {(XW-1){1'b0}}};
  localparam [XW-1:0] XMIN_SYM = XMIN | {{(XW-1){1'b0}}, 1'b1};  // -XMAX

  wire [SUMW-XW:0] top_re = r_re[SUMW-1:XW-1];
  wire [SUMW-XW:0] top_im = r_im[SUMW-1:XW-1];
  wire fits_re = (top_re == {(SUMW-XW+1){1'b0}}) | (top_re == {(SUMW-XW+1){1'b1}});
  wire fits_im = (top_im == {(SUMW-XW+1){1'b0}}) | (top_im == {(SUMW-XW+1){1'b1}});
  // the one in-range value saturate_symmetric still changes
  wire is_min_re = r_re[XW-1:0] == XMIN;
  wire is_min_im = r_im[XW-1:0] == XMIN;

  reg [XW-1:0] f_re, f_im;
  reg o_re, o_im;
  always @* begin
    f_re = r_re[XW-1:0];
    f_im = r_im[XW-1:0];
    o_re = ~fits_re;
    o_im = ~fits_im;
    if (OVERFLOW == 1) begin
      if (!fits_re) f_re = r_re[SUMW-1] ? XMIN : XMAX;
      if (!fits_im) f_im = r_im[SUMW-1] ? XMIN : XMAX;
    end else if (OVERFLOW == 2) begin
      o_re = ~fits_re | is_min_re;
      o_im = ~fits_im | is_min_im;
      if (o_re) f_re = r_re[SUMW-1] ? XMIN_SYM : XMAX;
      if (o_im) f_im = r_im[SUMW-1] ? XMIN_SYM : XMAX;
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      out_valid <= 1'b0;
      xr_out <= {XW{1'b0}};
      xi_out <= {XW{1'b0}};
      ovf_re <= 1'b0;
      ovf_im <= 1'b0;
    end else begin
      out_valid <= v1;
      if (v1) begin
        xr_out <= f_re;
        xi_out <= f_im;
        ovf_re <= o_re;
        ovf_im <= o_im;
      end
    end
  end

endmodule
