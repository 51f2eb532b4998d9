# Drawn by the engine from stage-Final-accuracy.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Final-accuracy.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Final-accuracy.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Final: accuracy, val solid, train dashed"
set xlabel "epoch"
set ylabel "accuracy (%)"
set grid
set key outside right top
set xtics 4
plot 'stage-Final-accuracy.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "64-128-256, [1,1,1] blocks, ReLU, 7x7/s2 stem val", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "64-128-256, [1,1,1] blocks, ReLU, 7x7/s2 stem train"
