
showalice