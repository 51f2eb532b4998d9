# Drawn by the engine from stage-Baseline-accuracy.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Baseline-accuracy.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Baseline-accuracy.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Baseline: accuracy, val solid, train dashed (mean over seeds, band: their range)"
set xlabel "epoch"
set ylabel "accuracy (%)"
set grid
set key outside right top
set xtics 2
plot 'stage-Baseline-accuracy.csv' using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb "#1f77b4" notitle, \
     '' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "64-128-256, [2,2,2] blocks, ReLU, 7x7/s2 stem val", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "64-128-256, [2,2,2] blocks, ReLU, 7x7/s2 stem train"
