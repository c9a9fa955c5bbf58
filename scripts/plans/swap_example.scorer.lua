-- Scorer for swap_example.lua: 1 for the right number, 0.5 within 5 %, 0 otherwise.
-- Helpers (scripts/lib/score.lua): exact, contains, number, numeric, schema_valid, judge.
function score(output, input, expected)
  if numeric(output, expected) then return 1 end
  local x = number(output)
  if x and math.abs(x - expected) <= 0.05 * math.abs(expected) then return 0.5 end
  return 0
end
