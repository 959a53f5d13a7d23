// Submits the form_post authorization response page (OAuth 2.0 Form Post
// Response Mode) as soon as it loads. The page has a Continue button for
// browsers that do not run scripts.
(function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
})();
