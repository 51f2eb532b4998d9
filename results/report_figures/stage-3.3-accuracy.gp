# Drawn by the engine from stage-3.3-accuracy.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-3.3-accuracy.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-3.3-accuracy.png'
set datafile separator comma
set datafile columnheaders
set title "Stage 3.3: accuracy, val solid, train dashed (mean over seeds, band: their range)"
set xlabel "epoch"
set ylabel "accuracy (%)"
set grid
set key outside right top
set xtics 2
plot 'stage-3.3-accuracy.csv' using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb "#1f77b4" notitle, \
     '' using 1:7:8 with filledcurves fs transparent solid 0.15 noborder lc rgb "#ff7f0e" notitle, \
     '' using 1:11:12 with filledcurves fs transparent solid 0.15 noborder lc rgb "#2ca02c" notitle, \
     '' using 1:15:16 with filledcurves fs transparent solid 0.15 noborder lc rgb "#d62728" notitle, \
     '' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "ReLU val", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "ReLU train", \
     '' using 1:6 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "LeakyReLU val", \
     '' using 1:9 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#ff7f0e" title "LeakyReLU train", \
     '' using 1:10 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "ELU val", \
     '' using 1:13 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#2ca02c" title "ELU train", \
     '' using 1:14 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "GELU val", \
     '' using 1:17 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#d62728" title "GELU train"
