// The draw-a-digit page: pointer strokes (mouse, finger or pen) on the canvas, sent as a PNG to POST predict after
// every change with at most one request in flight, so the guess follows the drawing without queueing up requests.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const label = document.getElementById("label");
const statusLine = document.getElementById("status");
const bars = document.getElementById("bars");
const LINE_WIDTH = 18; // on the 280-pixel pad: about MNIST's stroke once the digit is scaled to 20 pixels

let stroke = null; // the last point of the stroke being drawn, or null
let pointer = null; // the one pointer (mouse, finger, pen) drawing it; a second finger is ignored
let inked = false; // anything drawn since the last clear
let dirty = false; // drawn since the last request was sent
let inFlight = false;
let generation = 0; // bumped by Clear, so an answer about the old drawing is dropped

for (let digit = 0; digit < 10; digit++) {
  const row = document.createElement("li");
  row.innerHTML = `<span>${digit}</span><span class="track"><span class="fill"></span></span><span class="percent"></span>`;
  bars.append(row);
}

function clearPad() {
  generation += 1;
  inked = dirty = false;
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  label.textContent = "\u2013";
  statusLine.textContent = "";
  showProbabilities(new Array(10).fill(0), -1);
  setState(inFlight ? "waiting" : "idle");
}

function setState(state) {
  pad.dataset.state = state; // idle | drawing | waiting | shown | error: lets a test wait for the answer
}

function showProbabilities(probabilities, top) {
  [...bars.children].forEach((row, digit) => {
    row.querySelector(".fill").style.width = `${(probabilities[digit] * 100).toFixed(1)}%`;
    row.querySelector(".percent").textContent = `${(probabilities[digit] * 100).toFixed(1)}%`;
    row.classList.toggle("top", digit === top);
  });
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return { x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height };
}

function drawTo(point) {
  ink.strokeStyle = "#000";
  ink.lineWidth = LINE_WIDTH;
  ink.lineCap = ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(stroke.x, stroke.y);
  ink.lineTo(point.x, point.y);
  ink.stroke();
  stroke = point;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  if (stroke !== null) return;
  pointer = event.pointerId;
  pad.setPointerCapture(event.pointerId);
  stroke = padPoint(event);
  drawTo(stroke); // a dot
  setState("drawing");
  changed();
});

pad.addEventListener("pointermove", (event) => {
  if (stroke === null || event.pointerId !== pointer) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const each of events.length ? events : [event]) drawTo(padPoint(each));
  changed();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, (event) => {
    if (stroke === null || event.pointerId !== pointer) return;
    stroke = pointer = null;
    changed();
  });
}

document.getElementById("clear").addEventListener("click", clearPad);

function changed() {
  inked = dirty = true;
  if (!inFlight) predict();
}

async function predict() {
  dirty = false;
  inFlight = true;
  const asked = generation;
  if (stroke === null) setState("waiting");
  try {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const form = new FormData();
    form.append("image", png, "pad.png");
    const response = await fetch("predict", { method: "POST", body: form });
    const answer = await response.json();
    if (asked === generation) response.ok ? show(answer) : fail(answer.detail || response.statusText);
  } catch (error) {
    if (asked === generation) fail(`no answer from the server (${error.message})`);
  } finally {
    inFlight = false;
    if (dirty && inked) predict();
    else if (stroke !== null) setState("drawing");
    else if (!inked) setState("idle");
  }
}

function show(answer) {
  label.textContent = String(answer.label);
  statusLine.textContent = "";
  showProbabilities(answer.probabilities, answer.label);
  if (!dirty && stroke === null) setState("shown");
}

function fail(reason) {
  statusLine.textContent = reason;
  if (!dirty && stroke === null) setState("error");
}

clearPad();
