# Drawn by the engine from stage-3.2-accuracy.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-3.2-accuracy.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-3.2-accuracy.png'
set datafile separator comma
set datafile columnheaders
set title "Stage 3.2: accuracy, val solid, train dashed (mean over seeds, band: their range)"
set xlabel "epoch"
set ylabel "accuracy (%)"
set grid
set key outside right top
set xtics 2
plot 'stage-3.2-accuracy.csv' using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb "#1f77b4" notitle, \
     '' using 1:7:8 with filledcurves fs transparent solid 0.15 noborder lc rgb "#ff7f0e" notitle, \
     '' using 1:11:12 with filledcurves fs transparent solid 0.15 noborder lc rgb "#2ca02c" notitle, \
     '' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "[1,1,1] val", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "[1,1,1] train", \
     '' using 1:6 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "[2,2,2] val", \
     '' using 1:9 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#ff7f0e" title "[2,2,2] train", \
     '' using 1:10 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "[3,3,3] val", \
     '' using 1:13 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#2ca02c" title "[3,3,3] train"
